package caddymodule

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
)

// forwardAuthOn sets up a ForwardAuth with one policy for app.example.com
// on the app of h, as Provision would.
func forwardAuthOn(t *testing.T, h *Handler, p Handler) *ForwardAuth {
	t.Helper()
	pol := &ForwardAuthPolicy{Hosts: []string{"app.example.com"}, Handler: p}
	if err := pol.Handler.setup(h.app); err != nil {
		t.Fatal(err)
	}
	if err := pol.Handler.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := pol.compile(); err != nil {
		t.Fatal(err)
	}
	return &ForwardAuth{Policies: []*ForwardAuthPolicy{pol}, app: h.app, logger: zap.NewNop(), warnUntrusted: new(sync.Once)}
}

// TestForwardAuthExpiryHeaders: forward-auth answers for a key inside
// its warning window carry Deprecation, Sunset and Link as inline
// answers do (allowed and refused); other keys' answers do not.
func TestForwardAuthExpiryHeaders(t *testing.T) {
	t.Parallel()
	fx := newExpiryFixture(t, 0, "https://docs.example.com/rotate-keys")
	f := forwardAuthOn(t, fx.h, Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}, Methods: []string{"POST"}}}})
	for _, tt := range []struct {
		name, key, method string
		status            int
		warn              bool
	}{
		{"expiring, allowed", fx.soon, "GET", 200, true},
		{"expiring, refused", fx.soon, "POST", 403, true},
		{"not expiring", fx.later, "GET", 200, false},
	} {
		w := checkRequest{headers: append(describe(tt.method, "app.example.com", "/orders"), [2]string{"Authorization", "Bearer " + tt.key})}.serve(t, f)
		inline, _ := serve(t, fx.h, tt.method, map[string][]string{"Authorization": {"Bearer " + tt.key}})
		if w.Code != tt.status {
			t.Fatalf("%s: forward-auth %d, want %d", tt.name, w.Code, tt.status)
		}
		for _, name := range []string{"Deprecation", "Sunset", "Link"} {
			got, want := w.Header().Get(name), inline.Header().Get(name)
			if got != want || (got != "") != tt.warn {
				t.Errorf("%s: forward-auth %s = %q, inline %q (want present: %v)", tt.name, name, got, want, tt.warn)
			}
		}
	}
	if got := fx.soonExpiry.UTC().Format(http.TimeFormat); !strings.Contains(checkRequest{headers: append(describe("GET", "app.example.com", "/orders"),
		[2]string{"Authorization", "Bearer " + fx.soon})}.serve(t, f).Header().Get("Sunset"), got) {
		t.Fatalf("Sunset is not the key's expiry %s", got)
	}
}

// TestForwardAuthKeyLimit: forward-auth goes through the same limit
// step: the key's own bucket is shared with inline requests, and a
// refusal is 429 with Retry-After and the RateLimit headers.
func TestForwardAuthKeyLimit(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	withKeyLimit(t, h, "2/1m", 1)
	f := forwardAuthOn(t, h, Handler{})
	check := checkRequest{headers: append(describe("GET", "app.example.com", "/orders"), [2]string{"Authorization", "Bearer " + k.key})}
	if w := check.serve(t, f); w.Code != 200 || !strings.HasPrefix(w.Header().Get("RateLimit"), `"api_key";`) {
		t.Fatalf("first check: %d %v", w.Code, w.Header())
	}
	if w, _ := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer " + k.key}}); w.Code != 200 {
		t.Fatalf("inline: %d", w.Code)
	}
	w := check.serve(t, f)
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || w.Header().Get("RateLimit-Policy") != `"api_key";q=2;w=60` {
		t.Fatalf("third request (forward-auth): %d %v", w.Code, w.Header())
	}
}
