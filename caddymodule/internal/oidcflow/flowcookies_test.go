package oidcflow

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestExcessFlowCookies: abandoned logins cannot pile up flow cookies;
// the oldest (and any that do not decode) are deleted so that, with the
// new login's, MaxPendingLogins remain.
func TestExcessFlowCookies(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	r := httptest.NewRequest(http.MethodGet, "https://app.example/.portcullis/login", nil)
	if got := c.ExcessFlowCookies(r); len(got) != 0 {
		t.Fatalf("no flows: %d deletions", len(got))
	}
	var names []string
	for range 6 {
		red := startLogin(t, c, LoginOptions{})
		ck := red.SetCookies[0]
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		names = append(names, ck.Name)
		clk.Advance(time.Second)
	}
	r.AddCookie(&http.Cookie{Name: c.flowPfx + "garbage", Value: "not-a-flow"})
	r.AddCookie(&http.Cookie{Name: "app-cookie", Value: "kept"})
	got := c.ExcessFlowCookies(r)
	want := map[string]bool{c.flowPfx + "garbage": true, names[0]: true, names[1]: true, names[2]: true}
	if len(got) != len(want) {
		t.Fatalf("%d deletions, want %d", len(got), len(want))
	}
	for _, ck := range got {
		if !want[ck.Name] || ck.MaxAge >= 0 {
			t.Errorf("deletes %s (Max-Age %d); want the oldest flows and the garbage one", ck.Name, ck.MaxAge)
		}
	}
}
