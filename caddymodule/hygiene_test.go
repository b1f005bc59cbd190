package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveTarget sends a request for target (raw, as a client sends it)
// through h and returns the answer and what the next handler saw.
func serveTarget(t *testing.T, h caddyhttp.MiddlewareHandler, method, target string, headers map[string][]string, trailer http.Header) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	r := httptest.NewRequest(method, "http://gw.test/", nil)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("parse %q: %v", target, err)
	}
	r.URL, r.RequestURI = u, target
	for k, vs := range headers {
		r.Header[k] = vs
	}
	r.Trailer = trailer
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	up := &upstream{}
	if err := h.ServeHTTP(w, r, up); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w, up
}

// assertRefused checks a 400 invalid_request JSON answer with a request id
// that matches the X-Request-Id header, and that nothing went upstream.
func assertRefused(t *testing.T, w *httptest.ResponseRecorder, up *upstream) {
	t.Helper()
	if w.Code != http.StatusBadRequest || up.called {
		t.Fatalf("status %d, upstream called %v; want 400 and no upstream", w.Code, up.called)
	}
	var body struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "invalid_request" ||
		body.RequestID == "" || body.RequestID != w.Header().Get("X-Request-Id") {
		t.Fatalf("body %s (%v), X-Request-Id %q", w.Body, err, w.Header().Get("X-Request-Id"))
	}
}

func TestHandlerRefusesAmbiguousPaths(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	auth := map[string][]string{"Authorization": {"Bearer " + k.key}}
	for _, target := range []string{"/orders;x=1/1", "/public/..;/orders/1", "/public/..%5Corders/1", "/public/%2e%2e/orders", "/a%2Fb", "/a%00", "//orders"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			w, up := serveTarget(t, h, "GET", target, auth, nil)
			assertRefused(t, w, up)
		})
	}
	open, k2 := newTestHandler(t, Handler{AllowAmbiguousPaths: true})
	w, up := serveTarget(t, open, "GET", "/orders;x=1/1", map[string][]string{"Authorization": {"Bearer " + k2.key}}, nil)
	if w.Code != http.StatusOK || !up.called {
		t.Fatalf("allow_ambiguous_paths: status %d, upstream called %v", w.Code, up.called)
	}
}

func TestHandlerHopByHopCannotDropIdentity(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	w, up := serveTarget(t, h, "GET", "/orders", map[string][]string{
		"Authorization": {"Bearer " + k.key},
		"Connection":    {"X-Auth-Subject, X-Auth-Scopes", "x-request-id, close"},
	}, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if up.header.Get("X-Auth-Subject") != "ci-bot" || up.header.Get("X-Request-Id") == "" || up.header.Get("X-Auth-Scopes") == "" {
		t.Fatalf("identity headers upstream: %v", up.header)
	}
	if c := up.header.Values("Connection"); len(c) != 1 || c[0] != "close" {
		t.Fatalf("Connection upstream = %q, want close only", c)
	}
}

func TestHandlerMethodOverride(t *testing.T) {
	t.Parallel()
	rules := []RequireConfig{{Scopes: []string{"orders:admin"}, Methods: []string{"DELETE"}}}
	h, k := newTestHandler(t, Handler{Require: rules})
	hdr := map[string][]string{"Authorization": {"Bearer " + k.key}, "X-Http-Method-Override": {"DELETE"},
		"X_method_override": {"DELETE"}, "X-Original-Url": {"/admin"}, "X-Rewrite-Url": {"/admin"}}
	w, up := serveTarget(t, h, "POST", "/orders", hdr, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("default: status %d", w.Code)
	}
	for name := range up.header {
		if strings.Contains(strings.ToLower(name), "override") || strings.Contains(strings.ToLower(name), "url") {
			t.Errorf("default: %s reached the upstream", name)
		}
	}
	allow, k2 := newTestHandler(t, Handler{Require: rules, AllowMethodOverride: true})
	hdr["Authorization"] = []string{"Bearer " + k2.key}
	if w, up := serveTarget(t, allow, "POST", "/orders", hdr, nil); w.Code != http.StatusForbidden || up.called {
		t.Fatalf("allow_method_override: status %d, upstream %v; want 403 (DELETE needs orders:admin)", w.Code, up.called)
	}
}

func TestHandlerRefusesProtectedTrailers(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	auth := map[string][]string{"Authorization": {"Bearer " + k.key}}
	for _, name := range []string{"X-Auth-Subject", "X-Request-Id", "Authorization", "X-Http-Method-Override"} {
		w, up := serveTarget(t, h, "POST", "/orders", auth, http.Header{name: nil})
		assertRefused(t, w, up)
	}
	if w, _ := serveTarget(t, h, "POST", "/orders", auth, http.Header{"X-Checksum": nil}); w.Code != http.StatusOK {
		t.Fatalf("an unrelated trailer: status %d", w.Code)
	}
}

func TestKeyHeaderNeedsOptIn(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	h.extractor.APIKeyHeader = "" // the default: Authorization only
	w, up := serveTarget(t, h, "GET", "/orders", map[string][]string{"X-Api-Key": {k.key}}, nil)
	assertRefused(t, w, up)
	if !strings.Contains(w.Body.String(), "Authorization") {
		t.Fatalf("the refusal does not say where keys go: %s", w.Body)
	}
}

func TestGuardRefusesForEveryRoute(t *testing.T) {
	t.Parallel()
	g := &Guard{}
	if err := g.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	w, up := serveTarget(t, g, "GET", "/orders;x=1/1", nil, nil)
	assertRefused(t, w, up)
	w, up = serveTarget(t, g, "GET", "/other", map[string][]string{"X-Auth-Subject": {"admin"}, "X_auth_scopes": {"admin"}}, nil)
	if w.Code != http.StatusOK || !up.called || len(up.header) != 0 {
		t.Fatalf("guard on a clear path: status %d, upstream headers %v", w.Code, up.header)
	}
}
