package oidcflow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// login runs a full login for sub and returns the result.
func login(t *testing.T, c *Client, idp *fakeIdP, sub string) *Result {
	t.Helper()
	red := startLogin(t, c, LoginOptions{})
	res, err := c.Callback(t.Context(), callbackRequest(idp.authorize(t, red.URL, sub), red.SetCookies))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	return res
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	res := login(t, c, idp, "frank")
	old := res.Login.Tokens

	got, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "frank", Tokens: old, Claims: res.Login.Claims})
	tok := got.Tokens
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if tok.AccessToken == "" || tok.AccessToken == old.AccessToken || tok.RefreshToken == old.RefreshToken || tok.IDToken == "" || tok.Expiry.IsZero() {
		t.Fatal("Refresh did not return new, rotated tokens")
	}

	tests := []struct {
		name          string
		setup         func()
		subject       string
		refreshToken  string
		wantTransient bool
	}{
		{name: "rotated token reused", subject: "frank", refreshToken: old.RefreshToken},
		{name: "unknown token", subject: "frank", refreshToken: "rt-forged"},
		{name: "subject changed", subject: "someone-else", refreshToken: tok.RefreshToken},
		{name: "token endpoint down", subject: "frank", refreshToken: "rt-any", wantTransient: true, setup: func() { idp.tokenDown.Store(true) }},
	}
	for _, tt := range tests { // sequential: they share the provider
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			_, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: tt.subject, Tokens: session.Tokens{RefreshToken: tt.refreshToken}, Claims: session.Claims{}})
			if err == nil {
				t.Fatal("Refresh succeeded")
			}
			if got := errors.Is(err, session.ErrRefreshTransient); got != tt.wantTransient {
				t.Fatalf("Refresh error %v: transient = %v, want %v", err, got, tt.wantTransient)
			}
			for _, secret := range []string{tt.refreshToken, testClientSecret, "secret-detail-must-not-leak"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestRefreshDiscoveryDown(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.down.Store(true)
	c := newTestClient(t, idp, clk, nil)
	if _, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "x", Tokens: session.Tokens{RefreshToken: "rt"}, Claims: session.Claims{}}); !errors.Is(err, session.ErrRefreshTransient) {
		t.Fatalf("Refresh with discovery down: %v, want transient", err)
	}
}

// TestSessionWithRefresh wires the flow to a session.Manager as the
// adapter does: login, session cookie, and a refresh near expiry through
// the provider's token endpoint.
func TestSessionWithRefresh(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	keys := [][]byte{testKey()}
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Keys, cfg.Store = keys, st })
	m, err := session.New(session.Config{Store: st, Keys: keys, Now: clk.Now, Refresher: c, IdleTimeout: 2 * time.Hour, AbsoluteTimeout: 8 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res := login(t, c, idp, "grace")
	s, ck, err := m.Create(t.Context(), res.Login)
	if err != nil {
		t.Fatal(err)
	}
	if s.Principal().Subject != "grace" {
		t.Fatal("wrong principal")
	}
	r := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	r.AddCookie(ck)
	clk.Advance(50 * time.Minute) // 10 minutes left of a 1h token: refresh
	s2, err := m.Load(t.Context(), r)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s2.Tokens.AccessToken == res.Login.Tokens.AccessToken || idp.refreshCalls.Load() != 1 {
		t.Fatalf("tokens not refreshed (provider saw %d refreshes)", idp.refreshCalls.Load())
	}
	if _, err := m.Load(t.Context(), r); err != nil || idp.refreshCalls.Load() != 1 {
		t.Fatalf("second Load: %v, refreshes %d", err, idp.refreshCalls.Load())
	}
	// The provider revokes the refresh token: the next refresh ends the session.
	idp.mu.Lock()
	clear(idp.refresh)
	idp.mu.Unlock()
	clk.Advance(55 * time.Minute)
	if _, err := m.Load(t.Context(), r); !errors.Is(err, session.ErrRefreshFailed) {
		t.Fatalf("Load after revocation: %v, want ErrRefreshFailed", err)
	}
}
