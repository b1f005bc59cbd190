package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestRouteIssuers: with two trusted issuers, a route takes tokens only
// from the issuers it names, and the upstream learns which one vouched
// for the caller (X-Auth-Issuer, {http.auth.user.issuer}, the audit
// event); client copies of the header never pass.
func TestRouteIssuers(t *testing.T) {
	t.Parallel()
	main, partner := newTestIssuer(t), newTestIssuer(t)
	trusted := []JWTIssuerConfig{main.config("main"), partner.config("partner")}
	byName, _ := newJWTHandler(t, trusted, Handler{Route: "partner-api", Issuers: []string{"partner"}})
	byURL, _ := newJWTHandler(t, trusted, Handler{Route: "main-api", Issuers: []string{main.issuer()}})
	both, k := newJWTHandler(t, trusted, Handler{Route: "both", Issuers: []string{"main", "partner"}})
	tests := []struct {
		name       string
		h          *Handler
		headers    map[string][]string
		want       int
		wantIssuer string
	}{
		{name: "partner token, partner route", h: byName, headers: bearer(partner.mint(t, nil)), want: 200, wantIssuer: partner.issuer()},
		{name: "main token, partner route", h: byName, headers: bearer(main.mint(t, nil)), want: 401},
		{name: "main token, route naming main by URL", h: byURL, headers: bearer(main.mint(t, nil)), want: 200, wantIssuer: main.issuer()},
		{name: "partner token, route naming main by URL", h: byURL, headers: bearer(partner.mint(t, nil)), want: 401},
		{name: "main token, route naming both", h: both, headers: bearer(main.mint(t, nil)), want: 200, wantIssuer: main.issuer()},
		{name: "partner token, route naming both", h: both, headers: bearer(partner.mint(t, nil)), want: 200, wantIssuer: partner.issuer()},
		{name: "partner key claiming main's iss", h: byURL, headers: bearer(partner.mint(t, map[string]any{"iss": main.issuer()})), want: 401},
		{name: "API key: no issuer", h: both, headers: bearer(k.key), want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			headers := map[string][]string{"X-Auth-Issuer": {"https://forged.example"}, "x_auth_issuer": {"https://forged.example"}}
			for k, v := range tt.headers {
				headers[k] = v
			}
			w, up := serve(t, tt.h, "GET", headers)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want != 200 {
				if up.called {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			for name := range up.header {
				if normalizeHeaderName(name) == "x-auth-issuer" && name != "X-Auth-Issuer" {
					t.Errorf("client header %q reached the upstream", name)
				}
			}
			got := up.header.Values("X-Auth-Issuer")
			switch {
			case tt.wantIssuer == "" && len(got) != 0:
				t.Errorf("X-Auth-Issuer = %q for an API key, want none", got)
			case tt.wantIssuer != "" && (len(got) != 1 || got[0] != tt.wantIssuer):
				t.Errorf("X-Auth-Issuer = %q, want [%q]", got, tt.wantIssuer)
			}
		})
	}
}

func TestRouteIssuersAudit(t *testing.T) {
	t.Parallel()
	main, partner := newTestIssuer(t), newTestIssuer(t)
	h, _ := newJWTHandler(t, []JWTIssuerConfig{main.config("main"), partner.config("partner")}, Handler{Issuers: []string{"partner"}})
	logs := observe(h)
	serve(t, h, "GET", bearer(main.mint(t, nil)))
	w, up := serve(t, h, "GET", bearer(partner.mint(t, nil)))
	if w.Code != 200 {
		t.Fatalf("partner token: %d", w.Code)
	}
	if !strings.Contains(up.placeholders, "reader-bot|jwt|") {
		t.Fatalf("placeholders %q", up.placeholders)
	}
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d audit events, want 2", len(entries))
	}
	for i, want := range []map[string]any{
		{"result": "deny", "reason": "issuer_not_accepted", "issuer": main.issuer()},
		{"result": "allow", "reason": "allowed", "issuer": partner.issuer()},
	} {
		fields := entries[i].ContextMap()
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("event %d: %s = %v, want %v", i, k, fields[k], v)
			}
		}
	}
}

// TestIssuerPlaceholder: {http.auth.user.issuer} answers like the
// header, also when the header is omitted.
func TestIssuerPlaceholder(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	h, _ := newJWTHandler(t, []JWTIssuerConfig{ti.config("")}, Handler{IdentityHeaders: &IdentityHeaders{Omit: []string{"issuer"}}})
	code, header, got := serveExpand(t, h, bearer(ti.mint(t, nil)), "{http.auth.user.issuer}")
	if code != 200 || got != ti.issuer() {
		t.Fatalf("status %d, {http.auth.user.issuer} = %q, want %q", code, got, ti.issuer())
	}
	if v := header.Get("X-Auth-Issuer"); v != "" {
		t.Fatalf("omitted X-Auth-Issuer sent: %q", v)
	}
}

// TestRouteIssuersProvision: with several issuers the choice is
// explicit, and names must exist; JSON configurations are checked in
// Provision, naming the route.
func TestRouteIssuersProvision(t *testing.T) {
	t.Parallel()
	a, b := JWTIssuerConfig{Issuer: "https://a.example", Name: "a", Audiences: []string{"x"}}, JWTIssuerConfig{Issuer: "https://b.example", Audiences: []string{"x"}}
	tests := []struct {
		name    string
		jwt     []JWTIssuerConfig
		h       Handler
		wantErr string // "" for none
	}{
		{name: "one issuer, none named", jwt: []JWTIssuerConfig{a}, h: Handler{}},
		{name: "two issuers, none named", jwt: []JWTIssuerConfig{a, b}, h: Handler{Route: "orders"},
			wantErr: `portcullis route "orders": the route accepts JWTs and 2 jwt issuers are trusted (a (https://a.example), https://b.example): add ` + "`issuers"},
		{name: "two issuers, none named, unnamed route", jwt: []JWTIssuerConfig{a, b}, h: Handler{Require: []RequireConfig{{Scopes: []string{"orders:read"}}}},
			wantErr: "portcullis route requiring orders:read (set `route <name>` to name it)"},
		{name: "two issuers, by name", jwt: []JWTIssuerConfig{a, b}, h: Handler{Issuers: []string{"a"}}},
		{name: "two issuers, by URL", jwt: []JWTIssuerConfig{a, b}, h: Handler{Issuers: []string{"https://b.example"}}},
		{name: "two issuers, no JWTs accepted", jwt: []JWTIssuerConfig{a, b}, h: Handler{Accept: []string{"api_key"}}},
		{name: "unknown name", jwt: []JWTIssuerConfig{a, b}, h: Handler{Issuers: []string{"nosuch"}}, wantErr: `issuers: "nosuch" is not the name or URL of a jwt issuer`},
		{name: "URL with a trailing slash is another issuer", jwt: []JWTIssuerConfig{a, b}, h: Handler{Issuers: []string{"https://a.example/"}}, wantErr: "is not the name or URL"},
		{name: "issuers without jwt", jwt: []JWTIssuerConfig{a, b}, h: Handler{Accept: []string{"api_key"}, Issuers: []string{"a"}}, wantErr: "does not accept jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := &App{JWT: tt.jwt}
			if err := app.compile(); err != nil {
				t.Fatal(err)
			}
			h := tt.h
			err := h.setup(app)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("setup: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("setup error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestIssuerNames: names are short, URL-free and unique.
func TestIssuerNames(t *testing.T) {
	t.Parallel()
	iss := func(url, name string) JWTIssuerConfig {
		return JWTIssuerConfig{Issuer: url, Name: name, Audiences: []string{"x"}}
	}
	tests := []struct {
		name    string
		jwt     []JWTIssuerConfig
		wantErr string
	}{
		{name: "distinct", jwt: []JWTIssuerConfig{iss("https://a.example", "a"), iss("https://b.example", "b-2.x_y")}},
		{name: "twice", jwt: []JWTIssuerConfig{iss("https://a.example", "a"), iss("https://b.example", "a")}, wantErr: "issuer name a is used twice"},
		{name: "a URL", jwt: []JWTIssuerConfig{iss("https://a.example", "https://a.example")}, wantErr: "must use only letters"},
		{name: "space", jwt: []JWTIssuerConfig{iss("https://a.example", "a b")}, wantErr: "must use only letters"},
		{name: "too long", jwt: []JWTIssuerConfig{iss("https://a.example", strings.Repeat("n", 65))}, wantErr: "longer than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := (&App{JWT: tt.jwt}).compile()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("compile error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestRouteIssuersValidateJSON: `caddy validate` of a JSON config names
// the route that leaves the issuer choice implicit.
func TestRouteIssuersValidateJSON(t *testing.T) {
	t.Parallel()
	raw := `{"admin":{"disabled":true},"apps":{"portcullis":{"jwt":[
		{"issuer":"https://a.example","name":"a","audiences":["x"]},{"issuer":"https://b.example","name":"b","audiences":["x"]}]},
		"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[{"handler":"portcullis","route":"orders"}]}]}}}}}`
	cfg := new(caddy.Config)
	if err := json.Unmarshal([]byte(raw), cfg); err != nil {
		t.Fatal(err)
	}
	err := caddy.Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), `portcullis route "orders"`) || !strings.Contains(err.Error(), "issuers") {
		t.Fatalf("Validate error = %v, want it to name the route and issuers", err)
	}
}

// serveExpand serves a GET with headers and returns the status, the
// upstream request's headers and placeholder as the next handler expands it.
func serveExpand(t *testing.T, h *Handler, headers map[string][]string, placeholder string) (int, http.Header, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://gw.test/orders/1", nil)
	for k, v := range headers {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	var got http.Header
	var expanded string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got, expanded = r.Header.Clone(), repl.ReplaceKnown(placeholder, "")
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w.Code, got, expanded
}
