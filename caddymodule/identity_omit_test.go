package caddymodule

import (
	"strings"
	"testing"
)

// TestIdentityHeadersOmit leaves the omitted identity headers out of the
// upstream request, still strips client copies of them (an upstream may
// read those names), and still answers their placeholders.
func TestIdentityHeadersOmit(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{IdentityHeaders: &IdentityHeaders{Omit: []string{"key_id", "name", "scopes"}}})
	w, up := serve(t, h, "GET", map[string][]string{
		"X-Api-Key":     {k.key},
		"X-Auth-Key-Id": {"forged"},
		"x_auth_name":   {"forged"},
		"X-AUTH-SCOPES": {"admin"},
	})
	if w.Code != 200 || !up.called {
		t.Fatalf("status %d, upstream called %v", w.Code, up.called)
	}
	for name := range up.header {
		switch normalizeHeaderName(name) {
		case "x-auth-key-id", "x-auth-name", "x-auth-scopes":
			t.Errorf("omitted header %s = %q reached the upstream", name, up.header[name])
		}
	}
	if got := up.header.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "ci-bot" {
		t.Errorf("X-Auth-Subject = %q, want the subject still sent", got)
	}
	if got := up.header.Get("X-Auth-Method"); got != "api_key" {
		t.Errorf("X-Auth-Method = %q, want api_key still sent", got)
	}
	// id|method|key_id|name|email|scopes|groups|other
	want := "ci-bot|api_key|" + k.id + "|CI bot||orders:read||{http.auth.user.other}"
	if up.placeholders != want {
		t.Errorf("placeholders = %q, want %q", up.placeholders, want)
	}
}

func TestIdentityHeadersOmitInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ih   IdentityHeaders
		want string
	}{
		{IdentityHeaders{Omit: []string{"phone"}}, `cannot omit "phone"`},
		{IdentityHeaders{Omit: []string{"Email"}}, `cannot omit "Email"`},
		{IdentityHeaders{Email: "X-Mail", Omit: []string{"email"}}, "email is both named (X-Mail) and omitted"},
	}
	for _, tt := range tests {
		if _, err := tt.ih.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.ih, err, tt.want)
		}
	}
}
