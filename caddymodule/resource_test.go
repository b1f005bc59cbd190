package caddymodule

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func newResourceHandler(t *testing.T) *Handler {
	t.Helper()
	h, _ := newTestHandler(t, Handler{})
	app := h.app
	app.Resources = []ResourceConfig{{URI: "https://mcp.example/mcp", AuthorizationServers: []string{"https://idp.example"},
		ScopesSupported: []string{"tools:read", "tools:deploy", "offline_access"}}}
	if err := app.compileResources(); err != nil {
		t.Fatal(err)
	}
	hr := &Handler{Resource: "https://mcp.example/mcp", AllowedOrigins: []string{"https://app.example"},
		Require: []RequireConfig{{Scopes: []string{"tools:read"}}, {Scopes: []string{"tools:deploy"}, Tools: []string{"deploy_*"}}}}
	if err := hr.setup(app); err != nil {
		t.Fatal(err)
	}
	return hr
}

func doRaw(t *testing.T, h *Handler, method, path, body string, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "https://mcp.example"+path, strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := h.ServeHTTP(w, r, &upstream{}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestResourceMetadataAndChallenges(t *testing.T) {
	t.Parallel()
	h := newResourceHandler(t)
	for _, p := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		w := doRaw(t, h, "GET", p, "", nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"resource":"https://mcp.example/mcp"`) ||
			strings.Contains(w.Body.String(), "offline_access") || !strings.Contains(w.Body.String(), `"bearer_methods_supported":["header"]`) {
			t.Fatalf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod"}}`
	w := doRaw(t, h, "POST", "/mcp", call, map[string]string{"Content-Type": "application/json"})
	want := `Bearer realm="portcullis", scope="tools:read tools:deploy", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"`
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != want {
		t.Fatalf("no token: %d %q\nwant %q", w.Code, w.Header().Get("WWW-Authenticate"), want)
	}
	w = doRaw(t, h, "POST", "/mcp", call, map[string]string{"Content-Type": "application/json", "Mcp-Name": "echo"})
	if w.Code != 400 {
		t.Fatalf("Mcp-Name disagreeing with the body: %d", w.Code)
	}
	w = doRaw(t, h, "POST", "/mcp", call, map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"})
	if w.Code != 403 {
		t.Fatalf("foreign Origin: %d", w.Code)
	}
}
