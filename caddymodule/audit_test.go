package caddymodule

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observe(h *Handler) *observer.ObservedLogs {
	core, logs := observer.New(zapcore.InfoLevel)
	h.app.audit = zap.New(core)
	return logs
}

func TestAuditEvents(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{Route: "orders", Require: []RequireConfig{{Scopes: []string{"orders:write"}, Methods: []string{"POST"}}}})
	logs := observe(h)

	serve(t, h, "GET", nil)
	serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer " + k.key}, "User-Agent": {"probe\r\n"}})
	serve(t, h, "POST", map[string][]string{"X-Api-Key": {k.key}})

	entries := logs.All()
	if len(entries) != 3 {
		t.Fatalf("got %d audit events, want 3", len(entries))
	}
	want := []map[string]any{
		{"event": "decision", "result": "deny", "reason": "no_credentials", "route": "orders", "method": "GET", "path": "/orders"},
		{"event": "decision", "result": "allow", "reason": "allowed", "subject": "ci-bot", "auth_method": "api_key", "key_id": k.id, "user_agent": "probe"},
		{"event": "decision", "result": "deny", "reason": "insufficient_scope", "subject": "ci-bot", "method": "POST"},
	}
	for i, e := range entries {
		fields := e.ContextMap()
		for k, v := range want[i] {
			if fields[k] != v {
				t.Errorf("event %d: %s = %v, want %v (all: %v)", i, k, fields[k], v, fields)
			}
		}
		if id, _ := fields["request_id"].(string); id == "" {
			t.Errorf("event %d has no request_id", i)
		}
		line, _ := json.Marshal(fields)
		if strings.Contains(string(line), k.key) || strings.Contains(string(line), "access_token") {
			t.Errorf("event %d leaks a secret or the query string: %s", i, line)
		}
	}
	if got := entries[2].ContextMap()["required_scopes"]; got == nil {
		t.Error("the insufficient_scope event does not name the required scopes")
	}
	if got := testutil.ToFloat64(h.app.metrics.decisions.WithLabelValues("deny", "no_credentials", "none")); got != 1 {
		t.Errorf("decisions{deny,no_credentials,none} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.app.metrics.decisions.WithLabelValues("allow", "allowed", "api_key")); got != 1 {
		t.Errorf("decisions{allow,allowed,api_key} = %v, want 1", got)
	}
}

func TestAuditAllowedOff(t *testing.T) {
	t.Parallel()
	off := 0.0
	h, k := newTestHandler(t, Handler{AuditAllowed: &off})
	logs := observe(h)
	serve(t, h, "GET", map[string][]string{"X-Api-Key": {k.key}})
	serve(t, h, "GET", map[string][]string{"X-Api-Key": {"pcl_wrong"}})
	entries := logs.All()
	if len(entries) != 1 || entries[0].ContextMap()["result"] != "deny" {
		t.Fatalf("with audit_allowed 0 want only the denial, got %d events", len(entries))
	}
}

func TestRequestIDFromTrustedProxyOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted bool
		in      string
		keep    bool
	}{
		{name: "untrusted client", trusted: false, in: "client-id-1", keep: false},
		{name: "trusted proxy", trusted: true, in: "proxy-id-1", keep: true},
		{name: "trusted but malformed", trusted: true, in: "bad id\r\n", keep: false},
		{name: "trusted but too long", trusted: true, in: strings.Repeat("a", 129), keep: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "http://gw.test/", nil)
			r.Header.Set("X-Request-Id", tt.in)
			w := httptest.NewRecorder()
			repl := caddy.NewReplacer()
			r = caddyhttp.PrepareRequest(r, repl, w, nil)
			caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, tt.trusted)
			got := requestIDFor(r, repl)
			if (got == tt.in) != tt.keep || got == "" {
				t.Fatalf("requestIDFor = %q (incoming %q, trusted %v)", got, tt.in, tt.trusted)
			}
		})
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, Handler{})
	st, _, err := acquireStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = storePool.Delete(memoryFingerprint) })
	h.app.store = st
	for _, tt := range []struct{ path, want string }{
		{"/.portcullis/healthz", `{"status":"ok"}`},
		{"/.portcullis/readyz", `{"status":"ok","checks":{"store":{"status":"ok"}}}`},
	} {
		r := httptest.NewRequest("GET", "http://gw.test"+tt.path, nil)
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if err := h.ServeHTTP(w, r, &upstream{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != tt.want {
			t.Errorf("%s: %d %s, want 200 %s", tt.path, w.Code, w.Body, tt.want)
		}
	}
	w, up := serve(t, h, "GET", nil)
	_ = w
	if up.called {
		t.Fatal("upstream called without credentials")
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 10000 {
		id := requestIDs.next()
		if seen[id] || !validRequestID(id) {
			t.Fatalf("id %q repeated or malformed", id)
		}
		seen[id] = true
	}
	if newIDSource().prefix == requestIDs.prefix {
		t.Fatal("two processes would share a prefix")
	}
}

// TestRequestIDOnePerRequest: a second portcullis handler of the same
// request (chained routes) uses the first one's id, and the placeholder
// answers it even when something set the placeholder before.
func TestRequestIDOnePerRequest(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "http://gw.test/", nil)
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	repl.Set("http.auth.request_id", "set-by-someone-else")
	first := requestIDFor(r, repl)
	second := requestIDFor(r, repl)
	if first != second || first == "set-by-someone-else" {
		t.Fatalf("ids %q and %q", first, second)
	}
	if got := repl.ReplaceAll("{http.auth.request_id}", ""); got != first {
		t.Fatalf("placeholder = %q, want %q", got, first)
	}
}
