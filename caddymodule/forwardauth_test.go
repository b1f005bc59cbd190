package caddymodule

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// newTestForwardAuth sets up a ForwardAuth with policies against the
// test app of newTestHandler (one API key with orders:read).
func newTestForwardAuth(t *testing.T, prefix string, policies ...*ForwardAuthPolicy) (*ForwardAuth, testKey) {
	t.Helper()
	h0, k := newTestHandler(t, Handler{})
	f := &ForwardAuth{PathPrefix: prefix, Policies: policies, app: h0.app, logger: zap.NewNop(), warnUntrusted: new(sync.Once)}
	for _, p := range policies {
		if err := p.Handler.setup(h0.app); err != nil {
			t.Fatal(err)
		}
		if err := p.Handler.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := p.compile(); err != nil {
			t.Fatal(err)
		}
	}
	return f, k
}

// checkRequest is a check request as a proxy sends it.
type checkRequest struct {
	untrusted bool
	method    string // of the check request; GET when empty
	target    string // of the check request; /auth when empty
	host      string // of the check request; gateway.internal when empty
	headers   [][2]string
}

// describe returns the headers that describe method uri on host.
func describe(method, host, uri string) [][2]string {
	return [][2]string{{"X-Forwarded-Method", method}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", host}, {"X-Forwarded-Uri", uri}}
}

func (c checkRequest) serve(t *testing.T, f *ForwardAuth) *httptest.ResponseRecorder {
	t.Helper()
	method, target, host := c.method, c.target, c.host
	if method == "" {
		method = "GET"
	}
	if target == "" {
		target = "/auth"
	}
	if host == "" {
		host = "gateway.internal"
	}
	r := httptest.NewRequest(method, "http://"+host+target, nil)
	r.RequestURI = target
	for _, h := range c.headers {
		r.Header[h[0]] = append(r.Header[h[0]], h[1])
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, !c.untrusted)
	if err := f.ServeHTTP(w, r, nil); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	if w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("answer %d has no X-Request-Id", w.Code)
	}
	return w
}

func TestForwardAuthDecisions(t *testing.T) {
	t.Parallel()
	f, k := newTestForwardAuth(t, "",
		&ForwardAuthPolicy{Hosts: []string{"app.example.com"}, Paths: []string{"/tomcat/*"},
			Handler: Handler{AllowAmbiguousPaths: true, AllowAnonymous: []string{"/tomcat/*"}}},
		&ForwardAuthPolicy{Hosts: []string{"app.example.com"}, Handler: Handler{
			Route:          "app",
			AllowAnonymous: []string{"/public/*"},
			Require:        []RequireConfig{{Scopes: []string{"orders:read"}}, {Scopes: []string{"orders:write"}, Methods: []string{"POST"}}},
		}},
	)
	bearer := [2]string{"Authorization", "Bearer " + k.key}
	with := func(h [][2]string, more ...[2]string) [][2]string {
		return append(append([][2]string(nil), h...), more...)
	}
	get := func(uri string) [][2]string { return describe("GET", "app.example.com", uri) }
	tests := []struct {
		name      string
		c         checkRequest
		status    int
		subject   string // X-Auth-Subject of a 200
		errorCode string // "error" of a JSON refusal
	}{
		{name: "key", c: checkRequest{headers: with(get("/orders/1"), bearer)}, status: 200, subject: "ci-bot"},
		{name: "forged identity with key", c: checkRequest{headers: with(get("/orders/1"), bearer, [2]string{"X-Auth-Subject", "admin"}, [2]string{"x_auth_subject", "admin"})}, status: 200, subject: "ci-bot"},
		{name: "forged identity anonymous", c: checkRequest{headers: with(get("/public/x"), [2]string{"X-Auth-Subject", "admin"})}, status: 200, subject: ""},
		{name: "no credential", c: checkRequest{headers: get("/orders/1")}, status: 401},
		{name: "scope for the original method", c: checkRequest{headers: with(describe("POST", "app.example.com", "/orders"), bearer)}, status: 403},
		{name: "untrusted peer", c: checkRequest{untrusted: true, headers: with(get("/public/x"), bearer)}, status: 403, errorCode: "access_denied"},
		{name: "no description", c: checkRequest{headers: [][2]string{bearer}}, status: 400, errorCode: "invalid_request"},
		{name: "conflicting descriptions", c: checkRequest{headers: with(get("/orders/1"), bearer, [2]string{"X-Original-URI", "/public/x"})}, status: 400, errorCode: "invalid_request"},
		{name: "uri twice", c: checkRequest{headers: with(get("/orders/1"), [2]string{"X-Forwarded-Uri", "/public/x"})}, status: 400, errorCode: "invalid_request"},
		{name: "forged uri climbs out of public", c: checkRequest{headers: get("/public/..%2forders/1")}, status: 400, errorCode: "invalid_request"},
		{name: "forged uri dot segment", c: checkRequest{headers: get("/public/%2e%2e/orders/1")}, status: 400, errorCode: "invalid_request"},
		{name: "ambiguous path cannot reach a later policy", c: checkRequest{headers: get("/orders;x=1/1")}, status: 400, errorCode: "invalid_request"},
		{name: "ambiguous path in its policy", c: checkRequest{headers: get("/tomcat/a;jsessionid=1")}, status: 200},
		{name: "no policy for host", c: checkRequest{headers: with(describe("GET", "other.example.com", "/orders/1"), bearer)}, status: 403, errorCode: "access_denied"},
		{name: "url override", c: checkRequest{headers: with(get("/public/x"), [2]string{"X-Original-URL", "/orders/1"})}, status: 400, errorCode: "invalid_request"},
		{name: "url override lookalike", c: checkRequest{headers: with(get("/public/x"), [2]string{"x_rewrite_url", "/orders/1"})}, status: 400, errorCode: "invalid_request"},
		{name: "method override", c: checkRequest{headers: with(describe("POST", "app.example.com", "/public/x"), [2]string{"X-HTTP-Method-Override", "DELETE"})}, status: 400, errorCode: "invalid_request"},
		{name: "own endpoint of the original", c: checkRequest{headers: get("/.portcullis/login")}, status: 200},
		{name: "own endpoint climbing out", c: checkRequest{headers: get("/.portcullis/../orders/1")}, status: 400},
		{name: "gateway's own probe", c: checkRequest{target: "/.portcullis/healthz"}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := tt.c.serve(t, f)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 && tt.c.target == "" {
				if got := w.Header().Get("X-Auth-Subject"); got != tt.subject {
					t.Errorf("X-Auth-Subject %q, want %q", got, tt.subject)
				}
				if _, ok := w.Header()["X-Auth-Email"]; !ok && strings.HasPrefix(tt.name, "key") {
					t.Errorf("an identity header is missing from the allowed answer: %v", w.Header())
				}
			}
			if tt.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a challenge: %v", w.Header())
			}
			if tt.errorCode != "" {
				var e errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != tt.errorCode || e.RequestID != w.Header().Get("X-Request-Id") {
					t.Errorf("refusal body %s, want error %q with the request id", w.Body, tt.errorCode)
				}
			}
		})
	}
}

func TestForwardAuthEnvoyPrefix(t *testing.T) {
	t.Parallel()
	f, k := newTestForwardAuth(t, "/ext-authz", &ForwardAuthPolicy{Hosts: []string{"app.example.com"},
		Handler: Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}, Methods: []string{"DELETE"}}}}})
	proto := [2]string{"X-Forwarded-Proto", "http"}
	bearer := [2]string{"Authorization", "Bearer " + k.key}
	tests := []struct {
		name   string
		c      checkRequest
		status int
	}{
		{"allowed", checkRequest{target: "/ext-authz/orders/1?x=1", host: "app.example.com", headers: [][2]string{proto, bearer}}, 200},
		{"original method judged", checkRequest{method: "DELETE", target: "/ext-authz/orders/1", host: "app.example.com", headers: [][2]string{proto, bearer}}, 403},
		{"outside the prefix", checkRequest{target: "/orders/1", host: "app.example.com", headers: [][2]string{proto, bearer}}, 404},
		{"contradicting uri header", checkRequest{target: "/ext-authz/orders/1", host: "app.example.com", headers: [][2]string{proto, bearer, {"X-Forwarded-Uri", "/public"}}}, 400},
		{"no proto", checkRequest{target: "/ext-authz/orders/1", host: "app.example.com", headers: [][2]string{bearer}}, 400},
		{"own endpoint outside the prefix", checkRequest{target: "/.portcullis/healthz", host: "app.example.com"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if w := tt.c.serve(t, f); w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

func TestForwardAuthRefusesBodyRules(t *testing.T) {
	t.Parallel()
	h0, _ := newTestHandler(t, Handler{})
	p := &ForwardAuthPolicy{Handler: Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}, Tools: []string{"deploy_*"}}}}}
	if err := p.Handler.setup(h0.app); err != nil {
		t.Fatal(err)
	}
	if err := p.compile(); err == nil || !strings.Contains(err.Error(), "inline portcullis handler") {
		t.Fatalf("compile = %v, want the MCP rules refused", err)
	}
}

// TestForwardAuthRefusesInject: a policy with inject would be accepted
// and then do nothing (the gateway never sends the upstream request).
func TestForwardAuthRefusesInject(t *testing.T) {
	t.Parallel()
	p := &ForwardAuthPolicy{Handler: Handler{Inject: &InjectConfig{Provider: "github"}}}
	if err := p.compile(); err == nil || !strings.Contains(err.Error(), "inline portcullis handler") {
		t.Fatalf("compile = %v, want inject refused", err)
	}
}

func TestLoginCookiesKeepsTheFlowCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		in     []string
		want   []string
	}{
		{"clear and flow", 302, []string{"sess=; Path=/; Max-Age=0; HttpOnly", "flow_1=abc; Path=/; Max-Age=600"}, []string{"flow_1=abc; Path=/; Max-Age=600"}},
		{"clear alone", 302, []string{"sess=; Path=/; Max-Age=0"}, []string{"sess=; Path=/; Max-Age=0"}},
		{"not a redirect", 401, []string{"sess=; Path=/; Max-Age=0", "other=1"}, []string{"sess=; Path=/; Max-Age=0", "other=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			lc := &loginCookies{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, session: "sess"}
			lc.Header()["Set-Cookie"] = tt.in
			lc.WriteHeader(tt.status)
			if got := rec.Header()["Set-Cookie"]; strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("Set-Cookie %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckPathPrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/ext-authz", "/a/b"} {
		if err := checkPathPrefix(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "/", "ext", "/a/", "/a;b", "/a%2f", "/a/../b", "/a?x"} {
		if err := checkPathPrefix(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// TestForwardAuthOwnPathsStayStrict: a policy that allows ambiguous
// paths does not make an ambiguous spelling of the gateway's own paths
// pass: only their exact, strict spelling is let through unjudged.
func TestForwardAuthOwnPathsStayStrict(t *testing.T) {
	t.Parallel()
	f, _ := newTestForwardAuth(t, "", &ForwardAuthPolicy{Handler: Handler{AllowAmbiguousPaths: true, AllowAnonymous: []string{"/tomcat/*"}}})
	for uri, want := range map[string]int{
		"/.portcullis/login":        200,
		"/.portcullis/login;x=1":    400,
		"/.portcullis//login":       400,
		"/tomcat/a;jsessionid=1":    200,
		"/.portcullis/%2e%2e/admin": 400,
	} {
		if w := (checkRequest{headers: describe("GET", "app.example.com", uri)}).serve(t, f); w.Code != want {
			t.Errorf("%s: %d, want %d; body %s", uri, w.Code, want, w.Body)
		}
	}
}
