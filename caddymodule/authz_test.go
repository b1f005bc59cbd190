package caddymodule

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// authzApp is the app of the authorization tests: orders:admin implies
// orders:write implies orders:read; admins get orders:admin, verified
// emails reports:read; admins and developers need a second factor (otp,
// or the acr urn:mfa) shown within 10 minutes.
func authzApp() *App {
	return &App{
		Scopes:      []ScopeConfig{{Name: "orders:admin", Implies: []string{"orders:write"}}, {Name: "orders:write", Implies: []string{"orders:read"}}},
		KnownScopes: []string{"reports:read"},
		Grants: []GrantConfig{
			{Scopes: []string{"orders:admin"}, To: ConditionConfig{Groups: []string{"admins"}}},
			{Scopes: []string{"reports:read"}, To: ConditionConfig{Claim: "email_verified", Values: []string{"true"}}},
		},
		MFA: &MFAConfig{
			RequiredFor: []ConditionConfig{{Groups: []string{"admins", "developers"}}},
			Methods:     []string{"otp", "hwk"}, ACR: []string{"urn:mfa"}, Grace: caddy.Duration(10 * time.Minute),
		},
	}
}

// newAuthzHandler sets up h against app (compiled here), trusting ti's
// tokens and holding one API key with orders:write (returned). The
// route's clock is now.
func newAuthzHandler(t *testing.T, app *App, ti *testIssuer, now time.Time, h Handler) (*Handler, testKey) {
	t.Helper()
	k, err := apikey.Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	app.JWT = []JWTIssuerConfig{ti.config("")}
	app.APIKeys = &APIKeysConfig{Keys: []APIKeyConfig{{ID: k.ID, Hash: apikey.NewHasher(nil).Hash(k.String()), Subject: "ci-bot", Scopes: []string{"orders:write"}}}}
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
	opts, err := app.jwtOptions()
	if err != nil {
		t.Fatal(err)
	}
	if app.verifier, err = jwtauth.New(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.verifier.Close() })
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	h.authz.now = func() time.Time { return now }
	return &h, testKey{key: k.String(), id: k.ID}
}

// user is the claims of a token for a user with groups, logged in at
// authAgo before now with amr.
func user(now time.Time, groups []string, authAgo time.Duration, amr ...string) map[string]any {
	c := map[string]any{"scope": nil, "auth_time": now.Add(-authAgo).Unix(), "amr": amr}
	if groups != nil {
		c["groups"] = groups
	}
	return c
}

func TestAuthzScopesFromGroups(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	now := time.Now()
	h, k := newAuthzHandler(t, authzApp(), ti, now, Handler{
		Require: []RequireConfig{{Scopes: []string{"orders:admin"}, Methods: []string{"DELETE"}}, {Scopes: []string{"orders:read"}}},
		MFA:     &RouteMFAConfig{Off: true},
	})
	admin := ti.mint(t, user(now, []string{"staff", "admins"}, time.Minute, "pwd"))
	staff := ti.mint(t, user(now, []string{"staff"}, time.Minute, "pwd"))
	verified := ti.mint(t, map[string]any{"scope": "orders:read", "email_verified": true})
	tests := []struct {
		name       string
		method     string
		headers    map[string][]string
		wantStatus int
		wantScopes string // X-Auth-Scopes
		wantAuth   string // part of WWW-Authenticate
	}{
		{name: "admin deletes", method: "DELETE", headers: bearer(admin), wantStatus: 200, wantScopes: "orders:admin orders:read orders:write"},
		{name: "staff reads nothing without a scope", method: "GET", headers: bearer(staff), wantStatus: 403, wantAuth: `scope="orders:read"`},
		{name: "staff may not delete", method: "DELETE", headers: bearer(staff), wantStatus: 403, wantAuth: `scope="orders:admin orders:read"`},
		{name: "granted scope then mapped by claim", method: "GET", headers: bearer(verified), wantStatus: 200, wantScopes: "orders:read reports:read"},
		{name: "API key: implications, no grants", method: "GET", headers: bearer(k.key), wantStatus: 200, wantScopes: "orders:write orders:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, up := serve(t, h, tt.method, tt.headers)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s %s", w.Code, tt.wantStatus, w.Header().Get("WWW-Authenticate"), w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, tt.wantAuth) {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", got, tt.wantAuth)
			}
			if tt.wantStatus == 200 {
				if got := up.header.Get("X-Auth-Scopes"); got != tt.wantScopes {
					t.Errorf("X-Auth-Scopes %q, want %q", got, tt.wantScopes)
				}
				if !strings.Contains(up.placeholders, "|"+tt.wantScopes+"|") {
					t.Errorf("placeholders %q lack the effective scopes", up.placeholders)
				}
			}
		})
	}
}

func TestAuthzConditionalRules(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	now := time.Now()
	admins := &ConditionConfig{Groups: []string{"admins"}}
	h, _ := newAuthzHandler(t, authzApp(), ti, now, Handler{
		Require: []RequireConfig{
			{Scopes: []string{"orders:read"}, When: &ConditionConfig{Groups: []string{"staff"}}},
			{Scopes: []string{"audit:read"}, When: &ConditionConfig{Claim: "/org/tier", Values: []string{"gold"}}},
		},
		StepUp: []StepUpConfig{{MaxAge: caddy.Duration(5 * time.Minute), When: admins}, {ACR: []string{"urn:strong"}, When: &ConditionConfig{Groups: []string{"ops"}}}},
		MFA:    &RouteMFAConfig{Off: true},
	})
	tests := []struct {
		name       string
		claims     map[string]any
		wantStatus int
		wantAuth   string
	}{
		{name: "staff needs orders:read", claims: user(now, []string{"staff"}, time.Minute), wantStatus: 403, wantAuth: `scope="orders:read"`},
		{name: "staff with it", claims: map[string]any{"groups": []string{"staff"}, "scope": "orders:read"}, wantStatus: 200},
		{name: "others are not asked", claims: user(now, []string{"sales"}, time.Hour), wantStatus: 200},
		{name: "nested claim condition", claims: map[string]any{"org": map[string]any{"tier": "gold"}, "scope": nil}, wantStatus: 403, wantAuth: `scope="audit:read"`},
		{name: "admin within max_age", claims: user(now, []string{"admins"}, 4*time.Minute), wantStatus: 200},
		{name: "admin after max_age", claims: user(now, []string{"admins"}, 6*time.Minute), wantStatus: 401, wantAuth: `error="insufficient_user_authentication"`},
		{name: "max_age is not asked of others", claims: user(now, []string{"sales"}, time.Hour), wantStatus: 200},
		{name: "ops need the strong acr", claims: user(now, []string{"ops"}, time.Minute), wantStatus: 401, wantAuth: `acr_values="urn:strong"`},
		{name: "ops with it", claims: map[string]any{"groups": []string{"ops"}, "acr": "urn:strong"}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _ := serve(t, h, "GET", bearer(ti.mint(t, tt.claims)))
			if w.Code != tt.wantStatus || !strings.Contains(w.Header().Get("WWW-Authenticate"), tt.wantAuth) {
				t.Fatalf("%d %q, want %d with %q", w.Code, w.Header().Get("WWW-Authenticate"), tt.wantStatus, tt.wantAuth)
			}
		})
	}
}

func TestAuthzMFA(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	now := time.Now().Truncate(time.Second) // auth_time has whole seconds
	route := func(m *RouteMFAConfig) *Handler {
		h, _ := newAuthzHandler(t, authzApp(), ti, now, Handler{MFA: m})
		return h
	}
	global, off, staffToo := route(nil), route(&RouteMFAConfig{Off: true}), route(&RouteMFAConfig{When: &ConditionConfig{Groups: []string{"staff"}}})
	all, k := newAuthzHandler(t, authzApp(), ti, now, Handler{MFA: &RouteMFAConfig{}})
	const challenge = `Bearer realm="portcullis", error="insufficient_user_authentication", error_description="a second authentication factor is required", max_age=600, acr_values="urn:mfa"`
	tests := []struct {
		name    string
		h       *Handler
		headers map[string][]string
		want    int
	}{
		{name: "admin with a password only", h: global, headers: bearer(ti.mint(t, user(now, []string{"admins"}, time.Minute, "pwd"))), want: 401},
		{name: "developer with a password only", h: global, headers: bearer(ti.mint(t, user(now, []string{"developers"}, time.Minute, "pwd"))), want: 401},
		{name: "admin with otp", h: global, headers: bearer(ti.mint(t, user(now, []string{"admins"}, time.Minute, "pwd", "otp"))), want: 200},
		{name: "admin with otp at the end of grace", h: global, headers: bearer(ti.mint(t, user(now, []string{"admins"}, 10*time.Minute, "pwd", "otp"))), want: 200},
		{name: "admin with otp after grace", h: global, headers: bearer(ti.mint(t, user(now, []string{"admins"}, 10*time.Minute+time.Second, "pwd", "otp"))), want: 401},
		{name: "admin with the mfa acr", h: global, headers: bearer(ti.mint(t, map[string]any{"groups": []string{"admins"}, "acr": "urn:mfa", "auth_time": now.Unix()})), want: 200},
		{name: "admin with otp but no auth_time", h: global, headers: bearer(ti.mint(t, map[string]any{"groups": []string{"admins"}, "amr": []string{"otp"}})), want: 401},
		{name: "staff is never asked", h: global, headers: bearer(ti.mint(t, user(now, []string{"staff"}, time.Hour, "pwd"))), want: 200},
		{name: "API keys are never asked", h: all, headers: bearer(k.key), want: 200},
		{name: "mfa off", h: off, headers: bearer(ti.mint(t, user(now, []string{"admins"}, time.Minute, "pwd"))), want: 200},
		{name: "route mfa for everyone", h: all, headers: bearer(ti.mint(t, user(now, []string{"staff"}, time.Minute, "pwd"))), want: 401},
		{name: "route mfa when staff", h: staffToo, headers: bearer(ti.mint(t, user(now, []string{"staff"}, time.Minute, "pwd"))), want: 401},
		{name: "route mfa adds to required_for", h: staffToo, headers: bearer(ti.mint(t, user(now, []string{"admins"}, time.Minute, "pwd"))), want: 401},
		{name: "route mfa when staff, sales not asked", h: staffToo, headers: bearer(ti.mint(t, user(now, []string{"sales"}, time.Minute, "pwd"))), want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _ := serve(t, tt.h, "GET", tt.headers)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); tt.want == 401 && got != challenge {
				t.Errorf("WWW-Authenticate\n  %s\nwant\n  %s", got, challenge)
			}
		})
	}
}

func TestAuthzRouteMFANeedsTheAppBlock(t *testing.T) {
	t.Parallel()
	app := authzApp()
	app.MFA = nil
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	h := Handler{MFA: &RouteMFAConfig{}}
	if err := h.setup(app); err == nil || !strings.Contains(err.Error(), "no mfa block") {
		t.Fatalf("setup: %v", err)
	}
	h = Handler{MFA: &RouteMFAConfig{Off: true}}
	if err := h.setup(app); err != nil {
		t.Fatalf("mfa off without an app block: %v", err)
	}
}

func TestAuthzIdentityGroups(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	now := time.Now()
	groups := []string{"admins", "staff", "ops", "everyone-in-the-company", "sales"}
	tests := []struct {
		name string
		ig   *IdentityGroupsConfig
		h    Handler
		want string
	}{
		{name: "all by default", want: "admins,staff,ops,everyone-in-the-company,sales"},
		{name: "mentioned: grants, mfa and the route's conditions", ig: &IdentityGroupsConfig{Mentioned: true},
			h: Handler{Require: []RequireConfig{{Scopes: []string{"x"}, When: &ConditionConfig{Groups: []string{"ops"}}}}}, want: "admins,ops"},
		{name: "mentioned and listed", ig: &IdentityGroupsConfig{Mentioned: true, Groups: []string{"sales"}}, want: "admins,sales"},
		{name: "listed only", ig: &IdentityGroupsConfig{Groups: []string{"staff"}}, want: "staff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := authzApp()
			app.IdentityGroups = tt.ig
			tt.h.MFA = &RouteMFAConfig{Off: true}
			h, _ := newAuthzHandler(t, app, ti, now, tt.h)
			w, up := serve(t, h, "GET", bearer(ti.mint(t, map[string]any{"groups": groups, "scope": "x"})))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got := up.header.Get("X-Auth-Groups"); got != tt.want {
				t.Fatalf("X-Auth-Groups %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAuthzAppRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(a *App)
		want string
	}{
		{name: "undeclared scope", edit: func(a *App) { a.Grants[0].Scopes = []string{"orders:admn"} }, want: "scope orders:admn is not declared"},
		{name: "claim syntax", edit: func(a *App) { a.Grants[1].To.Claim = "realm_access.roles" }, want: "unknown claim syntax"},
		{name: "groups and claim", edit: func(a *App) { a.Grants[0].To.Claim = "x" }, want: "not both"},
		{name: "no condition", edit: func(a *App) { a.Grants[0].To = ConditionConfig{} }, want: "needs groups or a claim"},
		{name: "mfa without methods", edit: func(a *App) { a.MFA.Methods, a.MFA.ACR = nil, nil }, want: "mfa needs methods"},
		{name: "mfa required_for claim syntax", edit: func(a *App) { a.MFA.RequiredFor[0] = ConditionConfig{Claim: "$.roles", Values: []string{"a"}} }, want: "unknown claim syntax"},
		{name: "identity_groups empty", edit: func(a *App) { a.IdentityGroups = &IdentityGroupsConfig{} }, want: "identity_groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := authzApp()
			tt.edit(a)
			if err := a.compile(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("compile: %v, want an error with %q", err, tt.want)
			}
		})
	}
	a := authzApp()
	a.Resources = []ResourceConfig{{URI: "https://mcp.example.com", AuthorizationServers: []string{"https://idp.example.com"}, ScopesSupported: []string{"tools:call"}}}
	a.Grants = append(a.Grants, GrantConfig{Scopes: []string{"tools:call"}, To: ConditionConfig{Groups: []string{"ai"}}})
	if err := a.compile(); err != nil {
		t.Fatalf("a scope of a resource's scopes_supported is declared: %v", err)
	}
}

func TestAuthzWhoami(t *testing.T) {
	t.Parallel()
	app := authzApp()
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	var h Handler
	if err := h.setup(app); err != nil {
		t.Fatal(err)
	}
	s := &session.Session{Subject: "alice", Claims: session.Claims{Groups: []string{"admins"}},
		Tokens: session.Tokens{Scope: "openid email reports:read"}}
	got := h.whoamiInfo(s).Scopes
	if want := []string{"reports:read", "orders:admin", "orders:read", "orders:write"}; !slices.Equal(got, want) {
		t.Fatalf("whoami scopes %q, want %q", got, want)
	}
}

func TestProviderScopes(t *testing.T) {
	t.Parallel()
	if got := providerScopes("openid profile orders:read offline_access  email"); !slices.Equal(got, []string{"orders:read"}) {
		t.Fatalf("providerScopes = %q", got)
	}
	if got := providerScopes(""); got != nil {
		t.Fatalf("providerScopes of nothing = %q", got)
	}
}
