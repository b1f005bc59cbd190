package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// answering is a next handler that answers with a fixed status, or
// returns a handler error without writing when err is set.
type answering struct {
	status int
	err    error
	// flushed reports whether http.ResponseController reached a Flusher.
	flushed bool
}

func (a *answering) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if a.err != nil {
		return a.err
	}
	w.WriteHeader(a.status)
	a.flushed = http.NewResponseController(w).Flush() == nil
	_, _ = w.Write([]byte("body"))
	return nil
}

// serveMCP posts one JSON-RPC message to h with an API key; next answers.
func serveMCP(t *testing.T, h *Handler, key, body string, next caddyhttp.Handler) (*httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest("POST", "http://gw.test/mcp", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("X-Api-Key", key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	return w, h.ServeHTTP(w, r, next)
}

func TestAuditToolAndUpstreamStatus(t *testing.T) {
	t.Parallel()
	const secretArg = "s3cr3t-argument-value"
	call := func(tool string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":{"token":"` + secretArg + `"}}}`
	}
	tests := []struct {
		name       string
		body       string
		next       *answering
		wantResult string
		wantTool   string
		wantStatus int // upstream_status; 0: absent
		wantErr    bool
	}{
		{name: "allowed, upstream 200", body: call("read_orders"), next: &answering{status: http.StatusOK}, wantResult: "allow", wantTool: "read_orders", wantStatus: 200},
		{name: "allowed, upstream 502", body: call("read_orders"), next: &answering{status: http.StatusBadGateway}, wantResult: "allow", wantTool: "read_orders", wantStatus: 502},
		{name: "allowed, handler error 503", body: call("read_orders"), next: &answering{err: caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstream"))}, wantResult: "allow", wantTool: "read_orders", wantStatus: 503, wantErr: true},
		{name: "denied tool", body: call("deploy_prod"), next: &answering{status: http.StatusOK}, wantResult: "deny", wantTool: "deploy_prod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, k := newTestHandler(t, Handler{Route: "mcp", Require: []RequireConfig{
				{Scopes: []string{"orders:read"}},
				{Scopes: []string{"orders:write"}, Tools: []string{"deploy_*"}},
			}})
			logs := observe(h)
			w, err := serveMCP(t, h, k.key, tc.body, tc.next)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ServeHTTP error = %v, want error %v", err, tc.wantErr)
			}
			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("got %d audit events, want 1", len(entries))
			}
			f := entries[0].ContextMap()
			if f["result"] != tc.wantResult || f["rpc_method"] != "tools/call" || f["tool"] != tc.wantTool {
				t.Errorf("event = %v, want result %s, rpc_method tools/call, tool %s", f, tc.wantResult, tc.wantTool)
			}
			if tc.wantStatus == 0 {
				if _, ok := f["upstream_status"]; ok {
					t.Errorf("a denied request has upstream_status: %v", f)
				}
			} else {
				if got := fmt.Sprint(f["upstream_status"]); got != fmt.Sprint(tc.wantStatus) {
					t.Errorf("upstream_status = %v, want %d", f["upstream_status"], tc.wantStatus)
				}
				if ms, ok := f["upstream_ms"].(int64); !ok || ms < 0 {
					t.Errorf("upstream_ms = %v, want a duration", f["upstream_ms"])
				}
			}
			if tc.wantResult == "allow" && !tc.wantErr {
				if w.Code != tc.wantStatus || w.Body.String() != "body" || !tc.next.flushed {
					t.Errorf("client got %d %q (flushed %v), want %d \"body\" flushed through", w.Code, w.Body.String(), tc.next.flushed, tc.wantStatus)
				}
			}
			for _, e := range entries {
				if strings.Contains(e.Message, secretArg) || strings.Contains(strings.Join(mapStrings(e.ContextMap()), " "), secretArg) {
					t.Error("the audit event carries an argument value")
				}
			}
		})
	}
}

// mapStrings renders the values of an event's fields.
func mapStrings(m map[string]any) []string {
	var out []string
	for k, v := range m {
		if s, ok := v.(string); ok {
			out = append(out, k+"="+s)
		}
	}
	return out
}

func TestAuditAllowedOffSkipsUpstreamWrapper(t *testing.T) {
	t.Parallel()
	off := 0.0
	h, k := newTestHandler(t, Handler{AuditAllowed: &off})
	logs := observe(h)
	var got http.ResponseWriter
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got = w
		return nil
	})
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	r.Header.Set("X-Api-Key", k.key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if _, wrapped := got.(*statusWriter); wrapped {
		t.Error("next got the status-recording writer for an event that is not logged")
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("got %d audit events, want none", n)
	}
}

func TestUpstreamStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		written int
		err     error
		want    int
	}{
		{name: "written", written: 404, want: 404},
		{name: "written wins over error", written: 200, err: errors.New("late"), want: 200},
		{name: "handler error", err: caddyhttp.Error(http.StatusBadGateway, errors.New("dial")), want: 502},
		{name: "plain error", err: errors.New("boom"), want: 500},
		{name: "nothing written", want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstreamStatus(tc.written, tc.err); got != tc.want {
				t.Errorf("upstreamStatus(%d, %v) = %d, want %d", tc.written, tc.err, got, tc.want)
			}
		})
	}
}

func TestStatusWriterSkipsInformational(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []int // statuses written; -1 writes a body
		want   int
	}{
		{name: "early hints then 200", writes: []int{103, 200}, want: 200},
		{name: "switching protocols", writes: []int{101}, want: 101},
		{name: "implicit 200", writes: []int{-1}, want: 200},
		{name: "first final wins", writes: []int{404, -1}, want: 404},
		{name: "nothing", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sw := &statusWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: httptest.NewRecorder()}}
			for _, s := range tc.writes {
				if s < 0 {
					_, _ = sw.Write([]byte("x"))
				} else {
					sw.WriteHeader(s)
				}
			}
			if sw.status != tc.want {
				t.Errorf("status = %d, want %d", sw.status, tc.want)
			}
		})
	}
}

func TestForwardAuthEventHasNoUpstream(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{Route: "orders"})
	logs := observe(h)
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	r.Header.Set("X-Api-Key", k.key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := h.ServeHTTP(w, r, allowed{h}); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].ContextMap()["result"] != "allow" {
		t.Fatalf("got %d audit events, want the allowed decision", len(entries))
	}
	if f := entries[0].ContextMap(); f["upstream_status"] != nil || f["upstream_ms"] != nil {
		t.Errorf("a forward-auth check names an upstream answer it never saw: %v", f)
	}
}
