package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// testKey is a key declared in newTestHandler's app.
type testKey struct{ key, id string }

func newTestHandler(t *testing.T, h Handler) (*Handler, testKey) {
	t.Helper()
	return newAppHandler(t, nil, "X-API-Key", h)
}

// newAppHandler sets up h against an app with one API key (returned),
// accepted also in keyHeader when not empty, trusting issuers with a
// real verifier.
func newAppHandler(t *testing.T, issuers []JWTIssuerConfig, keyHeader string, h Handler) (*Handler, testKey) {
	t.Helper()
	k, err := apikey.Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	app := &App{
		JWT: issuers,
		APIKeys: &APIKeysConfig{Header: keyHeader, Keys: []APIKeyConfig{{
			ID: k.ID, Hash: apikey.NewHasher(nil).Hash(k.String()), Subject: "ci-bot", Name: "CI bot", Scopes: []string{"orders:read"},
		}}},
		Scopes: []ScopeConfig{{Name: "orders:write", Implies: []string{"orders:read"}}},
	}
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	app.metrics, app.audit = m, zap.NewNop()
	if app.registry, err = apikey.NewRegistry(apikey.RegistryOptions{Static: app.keys, Hasher: app.hasher, Prefix: app.keys.Prefix()}); err != nil {
		t.Fatal(err)
	}
	if len(issuers) > 0 {
		opts, err := app.jwtOptions()
		if err != nil {
			t.Fatal(err)
		}
		if app.verifier, err = jwtauth.New(opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = app.verifier.Close() })
	}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return &h, testKey{key: k.String(), id: k.ID}
}

// upstream records the request the next handler receives.
type upstream struct {
	called       bool
	header       http.Header
	placeholders string
}

// identityPlaceholders is what upstream expands, as a header_up or a log
// field would.
const identityPlaceholders = "{http.auth.user.id}|{http.auth.user.method}|{http.auth.user.key_id}|{http.auth.user.name}|" +
	"{http.auth.user.email}|{http.auth.user.scopes}|{http.auth.user.groups}|{http.auth.user.other}"

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	u.placeholders = repl.ReplaceKnown(identityPlaceholders, "")
	u.called, u.header = true, r.Header.Clone()
	w.WriteHeader(http.StatusOK)
	return nil
}

func serve(t *testing.T, h *Handler, method string, headers map[string][]string) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	r := httptest.NewRequest(method, "http://gw.test/orders?access_token=x", nil)
	for k, vs := range headers {
		r.Header[k] = vs // raw: keeps non-canonical names as an attacker would send them
	}
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	// As basic_auth in front of portcullis would; portcullis's identity wins.
	repl.Set("http.auth.user.id", "basic-auth-user")
	up := &upstream{}
	if err := h.ServeHTTP(w, r, up); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	if id, _ := repl.GetString("http.auth.request_id"); id == "" || w.Header().Get("X-Request-Id") != id {
		t.Fatalf("X-Request-Id = %q, want the request uuid %q", w.Header().Get("X-Request-Id"), id)
	}
	return w, up
}

func TestHandlerAnswers(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}, Methods: []string{"POST"}}}})
	tests := []struct {
		name       string
		method     string
		headers    map[string][]string
		wantStatus int
		wantAuth   string // WWW-Authenticate
		wantError  string // JSON error code
	}{
		{name: "no credential", method: "GET", wantStatus: 401, wantAuth: `Bearer realm="portcullis"`, wantError: "unauthorized"},
		{name: "wrong key", method: "GET", headers: map[string][]string{"Authorization": {"Bearer " + wrongLastChar(k.key)}}, wantStatus: 401,
			wantAuth: `Bearer realm="portcullis", error="invalid_token", error_description="the API key is not valid"`, wantError: "invalid_token"},
		{name: "jwt not yet trusted", method: "GET", headers: map[string][]string{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.e30."}}, wantStatus: 401, wantError: "invalid_token"},
		{name: "two credentials", method: "GET", headers: map[string][]string{"Authorization": {"Bearer " + k.key}, "X-Api-Key": {k.key}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "insufficient scope", method: "POST", headers: map[string][]string{"X-Api-Key": {k.key}}, wantStatus: 403,
			wantAuth: `Bearer realm="portcullis", error="insufficient_scope", error_description="the credential lacks a scope this request needs", scope="orders:write"`, wantError: "insufficient_scope"},
		{name: "good key", method: "GET", headers: map[string][]string{"Authorization": {"Bearer " + k.key}}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, up := serve(t, h, tt.method, tt.headers)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if up.called != (tt.wantStatus == 200) {
				t.Fatalf("upstream called = %v", up.called)
			}
			if tt.wantStatus == 200 {
				return
			}
			if tt.wantAuth != "" && w.Header().Get("WWW-Authenticate") != tt.wantAuth {
				t.Fatalf("WWW-Authenticate = %q, want %q", w.Header().Get("WWW-Authenticate"), tt.wantAuth)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %s", w.Body)
			}
			if body.Error != tt.wantError || body.RequestID == "" || body.RequestID != w.Header().Get("X-Request-Id") {
				t.Fatalf("body = %+v, want error %q and the request id", body, tt.wantError)
			}
			if strings.Contains(w.Body.String(), k.key) || strings.Contains(w.Body.String(), "apikey:") {
				t.Fatalf("body leaks internals: %s", w.Body)
			}
		})
	}
}

func TestHandlerForwardsIdentityNotCredentials(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	forged := map[string][]string{
		"X-Api-Key":      {k.key},
		"X-Auth-Subject": {"admin", "root"},
		"x-auth-subject": {"admin"},
		"X-AUTH-SCOPES":  {"admin"},
		"X_Auth_Subject": {"admin"},
		"x_auth-email":   {"boss@example.com"},
		"X-Auth-Groups":  {"admins"},
		"X-Request-Id":   {"client-chosen"},
		"Cookie":         {"a=b"},
		"X-Auth-Token":   {"backend-specific"},
	}
	w, up := serve(t, h, "GET", forged)
	if w.Code != 200 || !up.called {
		t.Fatalf("status %d, upstream called %v", w.Code, up.called)
	}
	want := map[string]string{
		"X-Auth-Subject": "ci-bot",
		"X-Auth-Method":  "api_key",
		"X-Auth-Key-Id":  k.id,
		"X-Auth-Scopes":  "orders:read",
		"X-Auth-Name":    "CI bot",
	}
	for name := range up.header {
		switch normalizeHeaderName(name) {
		case "x-auth-subject", "x-auth-method", "x-auth-key-id", "x-auth-scopes", "x-auth-name", "x-request-id":
			if _, ok := want[name]; !ok && name != "X-Request-Id" {
				t.Errorf("client header %q reached the upstream", name)
			}
		case "x-auth-email", "x-auth-groups":
			t.Errorf("client header %q reached the upstream", name)
		}
	}
	for name, v := range want {
		if got := up.header.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly [%q]", name, got, v)
		}
	}
	// The placeholders answer for the principal; an unknown one stays as
	// written, as Caddy leaves unknown placeholders.
	if want := "ci-bot|api_key|" + k.id + "|CI bot||orders:read||{http.auth.user.other}"; up.placeholders != want {
		t.Errorf("placeholders = %q, want %q", up.placeholders, want)
	}
	if up.header.Get("X-Api-Key") != "" {
		t.Error("the API key was forwarded upstream")
	}
	if rid := up.header.Values("X-Request-Id"); len(rid) != 1 || rid[0] == "client-chosen" {
		t.Errorf("X-Request-Id upstream = %q, want the gateway's own id", rid)
	}
	if up.header.Get("Cookie") != "a=b" || up.header.Get("X-Auth-Token") != "backend-specific" {
		t.Error("an unrelated header was removed")
	}
}

func TestHandlerAcceptRestrictsMethods(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{Accept: []string{"session"}})
	w, up := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer " + k.key}})
	if w.Code != 401 || up.called || !strings.Contains(w.Header().Get("WWW-Authenticate"), "not accepted") {
		t.Fatalf("status %d, upstream %v, challenge %q", w.Code, up.called, w.Header().Get("WWW-Authenticate"))
	}
}

func TestHandlerAuthorizationForwarding(t *testing.T) {
	t.Parallel()
	for _, fwd := range []bool{false, true} {
		h, k := newTestHandler(t, Handler{ForwardAuthorization: fwd})
		_, up := serve(t, h, "GET", map[string][]string{"X-Api-Key": {k.key}, "Authorization": {"Basic dXNlcjpwYXNz"}})
		if got := up.header.Get("Authorization"); !up.called || (got != "") == !fwd {
			t.Fatalf("forward_authorization %v: upstream Authorization = %q", fwd, got)
		}
		// The placeholders answer for the principal; an unknown one stays as
		// written, as Caddy leaves unknown placeholders.
		if want := "ci-bot|api_key|" + k.id + "|CI bot||orders:read||{http.auth.user.other}"; up.placeholders != want {
			t.Errorf("placeholders = %q, want %q", up.placeholders, want)
		}
		if up.header.Get("X-Api-Key") != "" {
			t.Fatal("the API key header reached the upstream")
		}
	}
}

func TestHandlerAnonymousAndClaims(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{AllowAnonymous: []string{"/public/*"}})
	r := func(path string, headers map[string]string) (int, *upstream) {
		req := httptest.NewRequest("GET", "http://gw.test"+path, nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), w, nil)
		up := &upstream{}
		if err := h.ServeHTTP(w, req, up); err != nil {
			t.Fatal(err)
		}
		return w.Code, up
	}
	if code, up := r("/public/x", map[string]string{"X-Auth-Subject": "admin"}); code != 200 || up.header.Get("X-Auth-Subject") != "" {
		t.Fatalf("anonymous path: %d, subject %q", code, up.header.Get("X-Auth-Subject"))
	}
	if code, _ := r("/private", nil); code != 401 {
		t.Fatalf("private path without credentials: %d", code)
	}
	if code, up := r("/public/x", map[string]string{"X-API-Key": k.key}); code != 200 || up.header.Get("X-Auth-Subject") != "ci-bot" {
		t.Fatalf("anonymous path with a key: %d, subject %q", code, up.header.Get("X-Auth-Subject"))
	}
	if code, _ := r("/public/x", map[string]string{"X-API-Key": k.key + "x"}); code != 401 {
		t.Fatalf("anonymous path with a bad key: %d, want 401", code)
	}
	hc, kc := newTestHandler(t, Handler{RequireClaims: []ClaimConfig{{Claim: "groups", Values: []string{"admins"}}}})
	w, up := serve(t, hc, "GET", map[string][]string{"X-Api-Key": {kc.key}})
	if w.Code != 403 || up.called || !strings.Contains(w.Body.String(), "access_denied") {
		t.Fatalf("claim requirement with an API key: %d %s", w.Code, w.Body)
	}
}

func TestIdentityHeaderNames(t *testing.T) {
	t.Parallel()
	for _, bad := range []IdentityHeaders{{Subject: "X_User"}, {Subject: "X.User"}, {Subject: "X-User", Email: "x-user"}, {Subject: "-X"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	h, k := newTestHandler(t, Handler{IdentityHeaders: &IdentityHeaders{Subject: "X-User"}})
	_, up := serve(t, h, "GET", map[string][]string{"X-Api-Key": {k.key}, "X_user": {"admin"}})
	if got := up.header.Values("X-User"); len(got) != 1 || got[0] != "ci-bot" || up.header.Get("X_user") != "" {
		t.Fatalf("renamed subject header upstream: %v", up.header)
	}
}

func BenchmarkHandlerAPIKey(b *testing.B) {
	t := &testing.T{}
	h, k := newTestHandler(t, Handler{Require: []RequireConfig{{Scopes: []string{"orders:read"}}}})
	benchHandler(b, h, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k.key) })
}

// benchHandler measures allowed requests through h, each prepared by
// prepare, with audit events encoded as in production and then discarded.
func benchHandler(b *testing.B, h *Handler, prepare func(r *http.Request)) {
	b.Helper()
	h.app.audit = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
		prepare(r)
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if err := h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
			b.Fatalf("status %d: %v %s", w.Code, err, w.Body)
		}
	}
}

// TestChainedHandlerStripsItsOwnHeaders chains two portcullis handlers
// (as `portcullis /admin/*` before `portcullis`) whose identity header
// names differ: client copies of the second one's names must not reach
// the upstream either, and it still forwards the first one's principal.
func TestChainedHandlerStripsItsOwnHeaders(t *testing.T) {
	t.Parallel()
	first, k := newTestHandler(t, Handler{})
	second, _ := newTestHandler(t, Handler{IdentityHeaders: &IdentityHeaders{Subject: "X-User", Email: "X-User-Email"}})
	up := &upstream{}
	chain := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return second.ServeHTTP(w, r, up)
	})
	r := httptest.NewRequest("GET", "http://gw.test/admin/x", nil)
	r.Header["X-Api-Key"] = []string{k.key}
	r.Header["X-User"] = []string{"admin"}
	r.Header["x_user-email"] = []string{"boss@example.com"}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := first.ServeHTTP(w, r, chain); err != nil || w.Code != 200 || !up.called {
		t.Fatalf("status %d, upstream called %v: %v", w.Code, up.called, err)
	}
	if got := up.header.Values("X-User"); len(got) != 1 || got[0] != "ci-bot" {
		t.Errorf("X-User = %q, want the principal's subject only", got)
	}
	if got := up.header.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "ci-bot" {
		t.Errorf("X-Auth-Subject = %q, want the first handler's header kept", got)
	}
	for name := range up.header {
		if normalizeHeaderName(name) == "x-user-email" {
			t.Errorf("client header %q reached the upstream", name)
		}
	}
}

// TestPlaceholdersSurviveHeaderEdits edits an identity header in place,
// as a later header_up replace would: the placeholders keep the identity
// the gateway allowed.
func TestPlaceholdersSurviveHeaderEdits(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	var got string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		r.Header["X-Auth-Subject"][0] = "edited"
		r.Header["X-Auth-Method"][0] = "edited"
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		got = repl.ReplaceKnown("{http.auth.user.id} {http.auth.user.method}", "")
		return nil
	})
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	r.Header.Set("X-Api-Key", k.key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if got != "ci-bot api_key" {
		t.Fatalf("placeholders after a header edit = %q, want %q", got, "ci-bot api_key")
	}
}

// wrongLastChar returns key with its last character changed (never to
// itself, which replacing it with a fixed letter did once in 62 runs).
func wrongLastChar(key string) string {
	last := byte('x')
	if key[len(key)-1] == last {
		last = 'y'
	}
	return key[:len(key)-1] + string(last)
}
