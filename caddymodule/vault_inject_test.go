package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/vault"
)

// newVaultApp returns an app with the upstream provider "github" whose
// token endpoint is tokenURL, on a memory store.
func newVaultApp(t *testing.T, tokenURL string) *App {
	t.Helper()
	app := &App{
		Session: &SessionConfig{Keys: []string{"vault-adapter-test-key-0123456789abcdef"}},
		OIDC:    &OIDCConfig{Issuer: "https://idp.example", ClientID: "gw", RedirectURL: "https://gw.test/.portcullis/callback"},
		UpstreamOAuth: []*UpstreamOAuthConfig{{
			Name: "github", Label: "GitHub", ClientID: "gh", ClientSecret: "gh-secret",
			AuthorizationEndpoint: "https://github.example/authorize", TokenEndpoint: tokenURL,
		}},
	}
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	app.metrics, app.audit, app.logger = m, zap.NewNop(), zap.NewNop()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app.store = st
	if err := app.setupVault(); err != nil {
		t.Fatal(err)
	}
	return app
}

// tokenEndpoint answers refresh requests with body and status, counting
// them.
func tokenEndpoint(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.PostFormValue("grant_type") != "refresh_token" || r.PostFormValue("refresh_token") != "rt-1" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestInjectUpstream(t *testing.T) {
	t.Parallel()
	srv, refreshes := tokenEndpoint(t, 200, `{"access_token":"at-2","token_type":"bearer","expires_in":3600,"refresh_token":"rt-2"}`)
	app := newVaultApp(t, srv.URL)
	h := &Handler{Inject: &InjectConfig{Provider: "github", Header: "x-github-token", Format: "token {token}"}}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := app.vault.v.Connect(ctx, "idp:alice", "github", vault.Tokens{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	alice := principal.Principal{Method: principal.MethodSession, Subject: "idp:alice"}

	r := httptest.NewRequest("GET", "http://gw.test/repos", nil)
	r.Header["X-Github-Token"] = []string{"forged"}
	r.Header["x_github_token"] = []string{"forged-too"}
	h.hygiene.remove.Strip(r.Header) // the hygiene step, first in the pipeline
	if m := h.injectUpstream(r, alice, nil, audit.Event{}); m != nil {
		t.Fatalf("injectUpstream: %+v", m)
	}
	if got := r.Header.Values("X-Github-Token"); len(got) != 1 || got[0] != "token at-1" || r.Header["x_github_token"] != nil {
		t.Fatalf("upstream headers: %v", r.Header)
	}

	for _, c := range []struct {
		name string
		p    principal.Principal
		want string
	}{
		{"not connected", principal.Principal{Method: principal.MethodSession, Subject: "idp:bob"}, reasonUpstreamNotConnected},
		{"api key", principal.Principal{Method: principal.MethodAPIKey, Subject: "idp:alice"}, reasonUpstreamNotEligible},
		{"jwt of an unknown issuer", principal.Principal{Method: principal.MethodJWT, Subject: "idp:alice", Issuer: "https://other.example"}, reasonUpstreamNotEligible},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://gw.test/repos", nil)
			m := h.injectUpstream(r, c.p, nil, audit.Event{})
			if m == nil || m.reason != c.want || r.Header.Get("X-Github-Token") != "" {
				t.Fatalf("miss = %+v, header %q; want %s", m, r.Header.Get("X-Github-Token"), c.want)
			}
		})
	}

	// An expired token is refreshed, and the rotated refresh token kept.
	c, _ := app.vault.v.Get(ctx, "idp:alice", "github")
	c.Expiry = time.Now().Add(-time.Second)
	if err := app.vault.v.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	r = httptest.NewRequest("GET", "http://gw.test/repos", nil)
	if m := h.injectUpstream(r, alice, nil, audit.Event{}); m != nil || r.Header.Get("X-Github-Token") != "token at-2" || refreshes.Load() != 1 {
		t.Fatalf("after expiry: miss %+v, header %q, %d refreshes", m, r.Header.Get("X-Github-Token"), refreshes.Load())
	}
	if c, _ := app.vault.v.Get(ctx, "idp:alice", "github"); c.RefreshToken != "rt-2" {
		t.Fatal("the rotated refresh token was not kept")
	}
}

func TestInjectInvalidGrantNeedsReconnect(t *testing.T) {
	t.Parallel()
	srv, refreshes := tokenEndpoint(t, 400, `{"error":"invalid_grant","error_description":"revoked"}`)
	app := newVaultApp(t, srv.URL)
	h := &Handler{Inject: &InjectConfig{Provider: "github"}}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	if _, err := app.vault.v.Connect(t.Context(), "idp:alice", "github", vault.Tokens{AccessToken: "at-1", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	alice := principal.Principal{Method: principal.MethodSession, Subject: "idp:alice"}
	for range 2 {
		r := httptest.NewRequest("GET", "http://gw.test/repos", nil)
		if m := h.injectUpstream(r, alice, nil, audit.Event{}); m == nil || m.reason != reasonUpstreamReconnect {
			t.Fatalf("miss = %+v, want %s", m, reasonUpstreamReconnect)
		}
	}
	if refreshes.Load() != 1 {
		t.Fatalf("a refused refresh token was presented %d times", refreshes.Load())
	}
}

func TestInjectSetup(t *testing.T) {
	t.Parallel()
	app := newVaultApp(t, "https://github.example/token")
	for _, c := range []struct {
		name string
		h    Handler
		want string
	}{
		{"undeclared", Handler{Inject: &InjectConfig{Provider: "gitlab"}}, `upstream_oauth provider "gitlab" is not declared`},
		{"no provider", Handler{Inject: &InjectConfig{}}, "name an upstream_oauth provider"},
		{"bad header", Handler{Inject: &InjectConfig{Provider: "github", Header: "X_Token"}}, "must use only letters"},
		{"no token in format", Handler{Inject: &InjectConfig{Provider: "github", Format: "Bearer"}}, "must contain {token} once"},
		{"two tokens", Handler{Inject: &InjectConfig{Provider: "github", Format: "{token} {token}"}}, "must contain {token} once"},
		{"newline in format", Handler{Inject: &InjectConfig{Provider: "github", Format: "Bearer {token}\r\nX-Evil: 1"}}, "no control characters"},
		{"forwarded authorization", Handler{ForwardAuthorization: true, Inject: &InjectConfig{Provider: "github"}}, "forward_authorization"},
		{"identity header", Handler{Inject: &InjectConfig{Provider: "github", Header: "X-Auth-Subject"}}, "is an identity header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			err := h.setup(app)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("setup error = %v, want %q", err, c.want)
			}
		})
	}
	h := Handler{Inject: &InjectConfig{Provider: "github"}}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	if h.inject.cfg.Header != "Authorization" || h.inject.prefix != "Bearer " || h.inject.suffix != "" {
		t.Fatalf("defaults: %+v", h.inject)
	}
	noVault := Handler{Inject: &InjectConfig{Provider: "github"}}
	bare := &App{}
	if err := bare.compile(); err != nil {
		t.Fatal(err)
	}
	if err := noVault.setup(bare); err == nil {
		t.Fatal("inject accepted without upstream_oauth")
	}
}

func TestVaultMissAnswers(t *testing.T) {
	t.Parallel()
	app := newVaultApp(t, "https://github.example/token")
	h := &Handler{Inject: &InjectConfig{Provider: "github"}}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	miss := func(reason string) vaultMiss { return vaultMiss{reason: reason, provider: app.vault.byName["github"]} }
	t.Run("browser", func(t *testing.T) {
		r := httptest.NewRequest("GET", "http://gw.test/repos?page=2", nil)
		r.Header.Set("Accept", "text/html")
		r.Header.Set("Sec-Fetch-Mode", "navigate")
		w := httptest.NewRecorder()
		h.answerVaultMiss(w, r, audit.Event{RequestID: "rid-1"}, miss(reasonUpstreamNotConnected))
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/.portcullis/connect/github?return_to=%2Frepos%3Fpage%3D2" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})
	t.Run("api", func(t *testing.T) {
		r := httptest.NewRequest("GET", "https://gw.test/repos", nil)
		w := httptest.NewRecorder()
		h.answerVaultMiss(w, r, audit.Event{RequestID: "rid-2"}, miss(reasonUpstreamReconnect))
		var body map[string]string
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != 403 || body["error"] != "connection_required" || body["connect_url"] != "https://gw.test/.portcullis/connect/github" || body["request_id"] != "rid-2" ||
			!strings.Contains(body["error_description"], "connect it again") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("json-rpc", func(t *testing.T) {
		r := httptest.NewRequest("POST", "https://gw.test/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"call-9","method":"tools/call","params":{"name":"x"}}`))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.answerVaultMiss(w, r, audit.Event{RequestID: "rid-3"}, miss(reasonUpstreamNotConnected))
		var body struct {
			JSONRPC string `json:"jsonrpc"`
			ID      string `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Data    struct {
					Elicitations []map[string]string `json:"elicitations"`
				} `json:"data"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 || body.JSONRPC != "2.0" || body.ID != "call-9" || body.Error.Code != -32042 ||
			len(body.Error.Data.Elicitations) != 1 || body.Error.Data.Elicitations[0]["mode"] != "url" ||
			body.Error.Data.Elicitations[0]["url"] != "https://gw.test/.portcullis/connect/github" || body.Error.Data.Elicitations[0]["elicitationId"] == "" {
			t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		r := httptest.NewRequest("GET", "https://gw.test/repos", nil)
		w := httptest.NewRecorder()
		h.answerVaultMiss(w, r, audit.Event{RequestID: "rid-4"}, miss(reasonUpstreamUnavailable))
		if w.Code != 503 || !strings.Contains(w.Body.String(), "rid-4") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

func TestJSONRPCID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, method, ctype, body, want string
	}{
		{"number id", "POST", "application/json", `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`, "7"},
		{"string id", "POST", "application/json; charset=utf-8", `{"jsonrpc":"2.0","id":"a","method":"initialize"}`, `"a"`},
		{"notification", "POST", "application/json", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, ""},
		{"null id", "POST", "application/json", `{"jsonrpc":"2.0","id":null,"method":"x"}`, ""},
		{"object id", "POST", "application/json", `{"jsonrpc":"2.0","id":{},"method":"x"}`, ""},
		{"batch", "POST", "application/json", `[{"jsonrpc":"2.0","id":1,"method":"x"}]`, ""},
		{"not json-rpc", "POST", "application/json", `{"id":1,"method":"x"}`, ""},
		{"form", "POST", "application/x-www-form-urlencoded", `id=1`, ""},
		{"get", "GET", "application/json", ``, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://gw.test/mcp", strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.ctype)
			id, ok := jsonRPCID(r)
			if string(id) != c.want || ok != (c.want != "") {
				t.Fatalf("jsonRPCID = %s, %v; want %q", id, ok, c.want)
			}
		})
	}
}

func TestVaultCSRF(t *testing.T) {
	t.Parallel()
	app := newVaultApp(t, "https://github.example/token")
	uv := app.vault
	tok := uv.csrfToken("session-a")
	if !uv.csrfValid("session-a", tok) || uv.csrfValid("session-b", tok) || uv.csrfValid("session-a", "") || uv.csrfValid("session-a", tok+"x") {
		t.Fatal("csrf tokens are not bound to their session")
	}
}

func TestUpstreamOAuthNeedsLogin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		app  App
	}{
		{"no session", App{}},
		{"no login provider", App{Session: &SessionConfig{Keys: []string{"vault-adapter-test-key-0123456789abcdef"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			app := c.app
			app.UpstreamOAuth = []*UpstreamOAuthConfig{{Name: "github", ClientID: "gh", AuthorizationEndpoint: "https://github.example/a", TokenEndpoint: "https://github.example/t"}}
			if err := app.compile(); err == nil || !strings.Contains(err.Error(), "oidc login provider") {
				t.Fatalf("compile = %v", err)
			}
		})
	}
}

func TestUpstreamOAuthCheck(t *testing.T) {
	t.Parallel()
	off := false
	ok := func() UpstreamOAuthConfig {
		return UpstreamOAuthConfig{Name: "github", ClientID: "gh", AuthorizationEndpoint: "https://github.example/a", TokenEndpoint: "https://github.example/t"}
	}
	for _, c := range []struct {
		name string
		edit func(u *UpstreamOAuthConfig)
		want string
	}{
		{"no name", func(u *UpstreamOAuthConfig) { u.Name = "" }, "a name is required"},
		{"bad name", func(u *UpstreamOAuthConfig) { u.Name = "git/hub" }, "letters, digits"},
		{"no client id", func(u *UpstreamOAuthConfig) { u.ClientID = "" }, "client_id is required"},
		{"no token endpoint", func(u *UpstreamOAuthConfig) { u.TokenEndpoint = "" }, "token_endpoint are required"},
		{"plain http", func(u *UpstreamOAuthConfig) { u.TokenEndpoint = "http://github.example/t" }, "plain http"},
		{"revocation plain http", func(u *UpstreamOAuthConfig) { u.RevocationEndpoint = "http://github.example/r" }, "plain http"},
		{"reserved auth param", func(u *UpstreamOAuthConfig) { u.AuthParams = map[string]string{"Redirect_URI": "x"} }, "set by the protocol"},
		{"bad scope", func(u *UpstreamOAuthConfig) { u.Scopes = []string{"a\"b"} }, "scope"},
		{"public client without pkce", func(u *UpstreamOAuthConfig) { u.PKCE = &off }, "needs pkce"},
		{"client auth", func(u *UpstreamOAuthConfig) { u.ClientAuth = "jwt" }, "basic or post"},
		{"redirect elsewhere", func(u *UpstreamOAuthConfig) { u.RedirectURL = "https://app.example/cb" }, "must end in /connect/github/callback"},
		{"redirect with query", func(u *UpstreamOAuthConfig) {
			u.RedirectURL = "https://app.example/.portcullis/connect/github/callback?x=1"
		}, "without a query"},
		{"redirect over http", func(u *UpstreamOAuthConfig) { u.RedirectURL = "http://app.example/.portcullis/connect/github/callback" }, "https"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := ok()
			c.edit(&u)
			if err := u.check(false); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("check = %v, want %q", err, c.want)
			}
		})
	}
	u := ok()
	u.RedirectURL = "http://127.0.0.1:8080/.portcullis/connect/github/callback"
	if err := u.check(false); err != nil {
		t.Fatalf("loopback http redirect: %v", err)
	}
}

// TestVaultSubject: whose connections a principal uses.
func TestVaultSubject(t *testing.T) {
	t.Parallel()
	app := newVaultApp(t, "https://github.example/token")
	app.authServer = &authServer{cfg: AuthorizationServerConfig{Issuer: "https://gw.example"}}
	for _, c := range []struct {
		name string
		p    principal.Principal
		want string // "" : none
	}{
		{"session", principal.Principal{Method: principal.MethodSession, Subject: "staff:alice"}, "staff:alice"},
		{"token of the gateway's authorization server", principal.Principal{Method: principal.MethodJWT, Issuer: "https://gw.example", Subject: "staff:alice"}, "staff:alice"},
		{"jwt of another issuer", principal.Principal{Method: principal.MethodJWT, Issuer: "https://other.example", Subject: "staff:alice"}, ""},
		{"jwt without issuer", principal.Principal{Method: principal.MethodJWT, Subject: "staff:alice"}, ""},
		{"api key", principal.Principal{Method: principal.MethodAPIKey, Subject: "staff:alice"}, ""},
		{"empty subject", principal.Principal{Method: principal.MethodSession}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := app.vaultSubject(c.p)
			if got != c.want && ok || ok != (c.want != "") {
				t.Fatalf("vaultSubject = %q, %v; want %q", got, ok, c.want)
			}
		})
	}
}

// TestInjectMCPSetupWithoutConnection: MCP set-up and discovery go on
// without the header when the user has not connected; a call does not.
func TestInjectMCPSetupWithoutConnection(t *testing.T) {
	t.Parallel()
	app := newVaultApp(t, "https://github.example/token")
	h := &Handler{Inject: &InjectConfig{Provider: "github"}}
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	bob := principal.Principal{Method: principal.MethodSession, Subject: "idp:bob"}
	for _, c := range []struct {
		name, body string
		passes     bool
	}{
		{"initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, true},
		{"initialized", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, true},
		{"tools/list", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, true},
		{"tools/call", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}`, false},
		{"resources/read", `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"x"}}`, false},
		{"batch", `[{"jsonrpc":"2.0","id":5,"method":"tools/list"}]`, false},
		{"case-folded second method", `{"jsonrpc":"2.0","id":6,"method":"tools/list","Method":"tools/call","params":{"name":"x"}}`, false},
		{"duplicate method", `{"jsonrpc":"2.0","id":7,"method":"tools/call","method":"tools/list"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://gw.test/mcp", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			m := h.injectUpstream(r, bob, nil, audit.Event{})
			if (m == nil) != c.passes || r.Header.Get("Authorization") != "" {
				t.Fatalf("miss = %+v, Authorization %q; passes %v", m, r.Header.Get("Authorization"), c.passes)
			}
		})
	}
}
