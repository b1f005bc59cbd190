package oidcflow

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestAuthParamsConfig: New refuses prompts, claims requests and extra
// parameters that would break or bypass the flow.
func TestAuthParamsConfig(t *testing.T) {
	t.Parallel()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" valid
	}{
		{name: "defaults"},
		{name: "prompt login", edit: func(c *Config) { c.Prompt = []string{"login"} }},
		{name: "prompt select_account consent", edit: func(c *Config) { c.Prompt = []string{"select_account", "consent"} }},
		{name: "prompt create", edit: func(c *Config) { c.Prompt = []string{"create"} }},
		{name: "prompt none", edit: func(c *Config) { c.Prompt = []string{"none"} }, wantErr: "prompt none is refused"},
		{name: "prompt none among others", edit: func(c *Config) { c.Prompt = []string{"login", "none"} }, wantErr: "prompt none"},
		{name: "prompt unknown", edit: func(c *Config) { c.Prompt = []string{"bogus"} }, wantErr: `prompt "bogus"`},
		{name: "prompt upper case", edit: func(c *Config) { c.Prompt = []string{"LOGIN"} }, wantErr: `prompt "LOGIN"`},
		{name: "prompt joined by the operator", edit: func(c *Config) { c.Prompt = []string{"login consent"} }, wantErr: "prompt"},
		{name: "prompt empty string", edit: func(c *Config) { c.Prompt = []string{""} }, wantErr: "prompt"},

		{name: "claims id_token", edit: func(c *Config) { c.ClaimsRequest = `{"id_token":{"groups":null}}` }},
		{name: "claims both", edit: func(c *Config) { c.ClaimsRequest = `{"id_token":{"acr":{"essential":true}},"userinfo":{"email":null}}` }},
		{name: "claims empty object", edit: func(c *Config) { c.ClaimsRequest = `{}` }},
		{name: "claims not JSON", edit: func(c *Config) { c.ClaimsRequest = `{id_token}` }, wantErr: "JSON object"},
		{name: "claims array", edit: func(c *Config) { c.ClaimsRequest = `[]` }, wantErr: "JSON object"},
		{name: "claims null", edit: func(c *Config) { c.ClaimsRequest = `null` }, wantErr: "JSON object"},
		{name: "claims string", edit: func(c *Config) { c.ClaimsRequest = `"id_token"` }, wantErr: "JSON object"},
		{name: "claims other member", edit: func(c *Config) { c.ClaimsRequest = `{"access_token":{}}` }, wantErr: `claims member "access_token"`},
		{name: "claims member case", edit: func(c *Config) { c.ClaimsRequest = `{"ID_TOKEN":{}}` }, wantErr: `"ID_TOKEN"`},

		{name: "extra params", edit: func(c *Config) {
			c.AuthParams = map[string]string{"access_type": "offline", "hd": "example.com", "ui_locales": "de"}
		}},
		{name: "extra empty value", edit: func(c *Config) { c.AuthParams = map[string]string{"kc_idp_hint": ""} }},
		{name: "param name empty", edit: func(c *Config) { c.AuthParams = map[string]string{"": "x"} }, wantErr: "not valid"},
		{name: "param name with space", edit: func(c *Config) { c.AuthParams = map[string]string{"a b": "x"} }, wantErr: "not valid"},
		{name: "param name with ampersand", edit: func(c *Config) { c.AuthParams = map[string]string{"a&scope": "x"} }, wantErr: "not valid"},
		{name: "param name with equals", edit: func(c *Config) { c.AuthParams = map[string]string{"a=b": "x"} }, wantErr: "not valid"},
		{name: "param name with hash", edit: func(c *Config) { c.AuthParams = map[string]string{"a#": "x"} }, wantErr: "not valid"},
		{name: "param name with newline", edit: func(c *Config) { c.AuthParams = map[string]string{"a\nb": "x"} }, wantErr: "not valid"},
		{name: "param value with CRLF", edit: func(c *Config) { c.AuthParams = map[string]string{"hd": "a\r\nb"} }, wantErr: "line break"},
	}
	for _, name := range ReservedAuthParams {
		tests = append(tests,
			struct {
				name    string
				edit    func(*Config)
				wantErr string
			}{name: "reserved " + name, edit: func(c *Config) { c.AuthParams = map[string]string{name: "x"} }, wantErr: "set by the gateway"},
			struct {
				name    string
				edit    func(*Config)
				wantErr string
			}{name: "reserved " + strings.ToUpper(name), edit: func(c *Config) { c.AuthParams = map[string]string{strings.ToUpper(name): "x"} }, wantErr: "set by the gateway"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "very-secret-value",
				RedirectURL: testRedirectURL, Keys: [][]byte{testKey()}, Store: st}
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			_, err := New(cfg)
			if cerr := CheckLoginParameters(cfg); (cerr == nil) != (err == nil) || (cerr != nil && !strings.Contains(cerr.Error(), tt.wantErr)) {
				t.Errorf("CheckLoginParameters = %v, New = %v", cerr, err)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "oidcflow: ") || strings.Contains(err.Error(), "very-secret-value") {
				t.Fatalf("New error = %q", err)
			}
		})
	}
}

// TestReservedAuthParams: the protocol's own parameters are all reserved.
func TestReservedAuthParams(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"response_type", "response_mode", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "prompt", "claims", "max_age", "acr_values", "login_hint",
		"request", "request_uri"} {
		found := false
		for _, r := range ReservedAuthParams {
			found = found || r == name
		}
		if !found {
			t.Errorf("%s is not reserved", name)
		}
	}
}

// TestAuthorizationRequest checks the parameters a login sends, from the
// configuration and the provider's metadata.
func TestAuthorizationRequest(t *testing.T) {
	t.Parallel()
	absent := "\x00absent"
	authTime := `{"id_token":{"auth_time":{"essential":true}}}`
	tests := []struct {
		name        string
		edit        func(*Config)
		noClaimsSup bool
		opts        LoginOptions
		want        map[string]string // absent: not sent
		wantClaims  string            // compared as JSON; absent: not sent
	}{
		{name: "defaults", want: map[string]string{"prompt": absent, "scope": "openid email profile", "max_age": absent, "acr_values": absent, "login_hint": absent},
			wantClaims: authTime},
		{name: "defaults, claims parameter unsupported", noClaimsSup: true, want: map[string]string{"prompt": absent}, wantClaims: absent},
		{name: "offline_access asks for consent", edit: func(c *Config) { c.Scopes = []string{"openid", "offline_access"} },
			want: map[string]string{"prompt": "consent", "scope": "openid offline_access"}, wantClaims: authTime},
		{name: "offline_access with an explicit prompt", edit: func(c *Config) {
			c.Scopes, c.Prompt = []string{"offline_access"}, []string{"select_account"}
		}, want: map[string]string{"prompt": "select_account", "scope": "openid offline_access"}},
		{name: "force login adds login", edit: func(c *Config) { c.Prompt = []string{"select_account"} }, opts: LoginOptions{ForceLogin: true},
			want: map[string]string{"prompt": "select_account login"}},
		{name: "force login with login configured", edit: func(c *Config) { c.Prompt = []string{"login"} }, opts: LoginOptions{ForceLogin: true},
			want: map[string]string{"prompt": "login"}},
		{name: "force login alone", opts: LoginOptions{ForceLogin: true}, want: map[string]string{"prompt": "login"}},
		{name: "operator claims merged with auth_time", edit: func(c *Config) { c.ClaimsRequest = `{"userinfo":{"email":null},"id_token":{"groups":null}}` },
			wantClaims: `{"userinfo":{"email":null},"id_token":{"groups":null,"auth_time":{"essential":true}}}`},
		{name: "operator already asks for auth_time", edit: func(c *Config) { c.ClaimsRequest = `{"id_token":{"auth_time":null}}` },
			wantClaims: `{"id_token":{"auth_time":null}}`},
		{name: "operator claims, parameter unsupported", noClaimsSup: true, edit: func(c *Config) { c.ClaimsRequest = `{"userinfo":{"email":null}}` },
			wantClaims: `{"userinfo":{"email":null}}`},
		{name: "extra params", edit: func(c *Config) {
			c.AuthParams = map[string]string{"hd": "example.com", "access_type": "offline", "ui_locales": "de fr"}
		},
			want: map[string]string{"hd": "example.com", "access_type": "offline", "ui_locales": "de fr"}},
		{name: "step-up", opts: LoginOptions{MaxAge: 90*time.Second + 500*time.Millisecond, ACRValues: []string{"urn:mfa", "urn:hwk"}, LoginHint: "jürgen@example.com"},
			want: map[string]string{"max_age": "90", "acr_values": "urn:mfa urn:hwk", "login_hint": "jürgen@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.noClaimsParam = tt.noClaimsSup
			c := newTestClient(t, idp, clk, tt.edit)
			for i := range 2 { // the second login must not see the first's changes
				red := startLogin(t, c, tt.opts)
				u, err := url.Parse(red.URL)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				for k, want := range tt.want {
					got, has := q.Get(k), q.Has(k)
					if want == absent && has {
						t.Errorf("login %d: %s = %q, want none", i, k, got)
					} else if want != absent && got != want {
						t.Errorf("login %d: %s = %q, want %q", i, k, got, want)
					}
				}
				switch {
				case tt.wantClaims == absent && q.Has("claims"):
					t.Errorf("claims = %q, want none", q.Get("claims"))
				case tt.wantClaims != "" && tt.wantClaims != absent && !jsonSame(t, q.Get("claims"), tt.wantClaims):
					t.Errorf("claims = %s, want %s", q.Get("claims"), tt.wantClaims)
				}
				if len(q["prompt"]) > 1 || len(q["claims"]) > 1 {
					t.Error("a parameter sent twice")
				}
			}
		})
	}
}

// jsonSame compares two JSON texts by value.
func jsonSame(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Errorf("%q: %v", a, err)
		return false
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return jsonEqual(x, y)
}

// TestAuthTimeOnlyWhenAsked: the fake provider sends auth_time only when
// the login asks for it, and the gateway asks whenever the provider
// supports the claims parameter.
func TestAuthTimeOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		noClaims bool
		opts     LoginOptions
		want     bool
	}{
		{name: "claims parameter supported", want: true},
		{name: "claims parameter unsupported", noClaims: true},
		{name: "claims parameter unsupported, max_age", noClaims: true, opts: LoginOptions{MaxAge: time.Hour}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.noClaimsParam = tt.noClaims
			c := newTestClient(t, idp, clk, nil)
			red := startLogin(t, c, tt.opts)
			res, err := c.Callback(t.Context(), callbackRequest(idp.authorize(t, red.URL, "alice"), red.SetCookies))
			if err != nil {
				t.Fatal(err)
			}
			if got := !res.Login.Claims.AuthTime.IsZero(); got != tt.want {
				t.Fatalf("auth_time present = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidLoginHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"email", "alice@example.com", true},
		{"unicode", "jürgen.müller@例え.jp", true},
		{"phone", "+41 79 123 45 67", true},
		{"256 bytes", strings.Repeat("a", 256), true},
		{"256 bytes of multi-byte runes", strings.Repeat("é", 128), true},
		{"empty", "", false},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"newline", "alice\n@example.com", false},
		{"carriage return", "alice\r", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"line separator", "a\u2028b", false},
		{"paragraph separator", "a\u2029b", false},
		{"invalid UTF-8", "a\xffb", false},
		{"truncated UTF-8", "\xc3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidLoginHint(tt.in); got != tt.want {
				t.Fatalf("ValidLoginHint(%q) = %v, want %v (valid UTF-8 %v)", tt.in, got, tt.want, utf8.ValidString(tt.in))
			}
		})
	}
}
