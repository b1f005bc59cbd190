package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Attack review (adversarial tests written against the code of the last
// hours). A failing test here is a finding; see the report.

// TestAttackReview_ChainedHandlerSkipsAccept: a later portcullis handler
// takes the principal an earlier one allowed without checking its own
// `accept` (the same gap as `providers`, see
// integration/attack_review_test.go): a route that accepts only JWTs
// lets an API key through when a less strict handler ran first.
func TestAttackReview_ChainedHandlerSkipsAccept(t *testing.T) {
	t.Parallel()
	first, k := newTestHandler(t, Handler{})
	second, _ := newTestHandler(t, Handler{Accept: []string{"jwt"}})
	// Control: alone, the second handler refuses the key.
	{
		up := &upstream{}
		r := httptest.NewRequest("GET", "http://gw.test/admin/x", nil)
		r.Header.Set("X-API-Key", k.key)
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if err := second.ServeHTTP(w, r, up); err != nil || up.called {
			t.Fatalf("control: a jwt-only route allowed an API key (status %d, %v)", w.Code, err)
		}
	}
	up := &upstream{}
	chain := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return second.ServeHTTP(w, r, up)
	})
	r := httptest.NewRequest("GET", "http://gw.test/admin/x", nil)
	r.Header.Set("X-API-Key", k.key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := first.ServeHTTP(w, r, chain); err != nil {
		t.Fatal(err)
	}
	if up.called {
		t.Fatalf("BYPASS: the jwt-only route forwarded an API-key principal that an earlier handler allowed (status %d)", w.Code)
	}
}

// TestAttackReview_ForwardAuthTrailingDotHost: X-Forwarded-Host
// "admin.example.com." (a fully-qualified name, which nginx, Envoy with
// strip_trailing_host_dot, Traefik and browsers treat as
// admin.example.com) is accepted by checkHost, but Caddy's host matcher
// does not match it against `admin.example.com` (nor `*.example.com`),
// so the decision falls through to a later, weaker policy.
func TestAttackReview_ForwardAuthTrailingDotHost(t *testing.T) {
	t.Parallel()
	f, k := newTestForwardAuth(t, "",
		&ForwardAuthPolicy{Hosts: []string{"admin.example.com"}, Handler: Handler{
			Route: "admin", Require: []RequireConfig{{Scopes: []string{"orders:write"}}},
		}},
		&ForwardAuthPolicy{Handler: Handler{Route: "rest"}},
	)
	bearer := [2]string{"Authorization", "Bearer " + k.key}
	// Control: the admin host needs orders:write, which the key lacks.
	if w := (checkRequest{headers: append(describe("GET", "admin.example.com", "/users"), bearer)}).serve(t, f); w.Code != 403 {
		t.Fatalf("control: admin.example.com answered %d, want 403", w.Code)
	}
	w := (checkRequest{headers: append(describe("GET", "admin.example.com.", "/users"), bearer)}).serve(t, f)
	if w.Code == 200 {
		t.Fatalf("BYPASS: X-Forwarded-Host admin.example.com. skipped the admin policy and was allowed by a later one (X-Auth-Subject %q)", w.Header().Get("X-Auth-Subject"))
	}
}
