package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// asGlobal is a global option with the sign-in the authorization server
// needs, a resource naming it, and the block under test.
func asGlobal(block string) string {
	return `portcullis {
	session {
		keys 0123456789abcdef0123456789abcdef0123
	}
	oidc https://idp.example.com {
		client_id gw
		redirect_url https://gw.example.com/.portcullis/callback
	}
	resource https://gw.example.com/mcp {
		authorization_servers self
		scopes_supported tools:read
	}
` + block + `
}`
}

// TestAuthServerCaddyfile reads the authorization_server block: the JSON
// it becomes, and each mistake at its line.
func TestAuthServerCaddyfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, block string
		want        string // the block's JSON, or "error: " and part of the message
	}{
		{name: "full", block: `authorization_server {
		issuer https://gw.example.com
		access_token_lifetime 5m
		refresh_token_lifetime 7d
		consent_lifetime 30d
		dynamic_registration off
		client_metadata_documents on
		allow_private_client_addresses
	}`, want: `{"issuer":"https://gw.example.com","access_token_lifetime":300000000000,"refresh_token_lifetime":604800000000000,"consent_lifetime":2592000000000000,"dynamic_registration":false,"client_metadata_documents":true,"allow_private_client_addresses":true}`},
		{name: "issuer only", block: "authorization_server {\n issuer https://gw.example.com/as\n}", want: `{"issuer":"https://gw.example.com/as"}`},
		{name: "no issuer", block: "authorization_server {\n access_token_lifetime 5m\n}", want: "error: issuer is required"},
		{name: "plain http issuer", block: "authorization_server {\n issuer http://gw.example.com\n}", want: "error: uses plain http"},
		{name: "issuer with a query", block: "authorization_server {\n issuer https://gw.example.com/?a=b\n}", want: "error: no query or fragment"},
		{name: "unknown subdirective", block: "authorization_server {\n issuer https://gw.example.com\n pkce plain\n}", want: `error: unrecognized authorization_server subdirective "pkce"`},
		{name: "on or off", block: "authorization_server {\n issuer https://gw.example.com\n dynamic_registration yes\n}", want: "error: takes on or off"},
		{name: "nothing can register", block: "authorization_server {\n issuer https://gw.example.com\n dynamic_registration off\n client_metadata_documents off\n}", want: "error: no client can connect"},
		{name: "access outlives refresh", block: "authorization_server {\n issuer https://gw.example.com\n access_token_lifetime 2h\n refresh_token_lifetime 1h\n}", want: "error: must not be longer"},
		{name: "bad key", block: "authorization_server {\n issuer https://gw.example.com\n signing_key not-a-pem\n}", want: "error: signing_key 1: authserver: signing key: assertion: key is not PEM"},
		{name: "given twice", block: "authorization_server {\n issuer https://gw.example.com\n}\nauthorization_server {\n issuer https://gw.example.com\n}", want: "error: authorization_server is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(asGlobal(tt.block)))
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Testfile:") {
					t.Fatalf("err = %v, want one with %q and its line", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(a.AuthorizationServer)
			if string(got) != tt.want {
				t.Fatalf("JSON\n  %s\nwant\n  %s", got, tt.want)
			}
			var back AuthorizationServerConfig
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); string(again) != string(got) {
				t.Fatalf("JSON does not round-trip: %s", again)
			}
		})
	}
}

// TestAuthServerCompile: the checks Provision runs for JSON configs.
func TestAuthServerCompile(t *testing.T) {
	t.Parallel()
	base := func() App {
		return App{
			Session:             &SessionConfig{Keys: []string{"0123456789abcdef0123456789abcdef0123"}},
			OIDC:                &OIDCConfig{Issuer: "https://idp.example.com", ClientID: "gw", RedirectURL: "https://gw.example.com/.portcullis/callback"},
			Resources:           []ResourceConfig{{URI: "https://gw.example.com/mcp", AuthorizationServers: []string{SelfAuthorizationServer}, ScopesSupported: []string{"tools:read", "offline_access"}}},
			AuthorizationServer: &AuthorizationServerConfig{Issuer: "https://gw.example.com"},
		}
	}
	a := base()
	if err := a.compile(); err != nil {
		t.Fatal(err)
	}
	if got := string(a.resources["https://gw.example.com/mcp"].json); !strings.Contains(got, `"authorization_servers":["https://gw.example.com"]`) {
		t.Fatalf("the resource's metadata does not name the gateway: %s", got)
	}
	if sc := a.authServer.resources["https://gw.example.com/mcp"]; len(sc) != 1 || sc[0] != "tools:read" {
		t.Fatalf("scopes of the resource: %v", sc)
	}
	if got := a.authServer.wellKnownPath(); got != AuthorizationServerWellKnown {
		t.Fatalf("metadata path %q", got)
	}
	for _, c := range []struct {
		name string
		edit func(*App)
		want string
	}{
		{"self without the block", func(a *App) { a.AuthorizationServer = nil }, "needs an authorization_server block"},
		{"no resource names it", func(a *App) { a.Resources[0].AuthorizationServers = []string{"https://idp.example.com"} }, "no resource names it"},
		{"no sign-in", func(a *App) { a.OIDC = nil }, "configure session and oidc"},
	} {
		a := base()
		c.edit(&a)
		if err := a.compile(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	withPath := base()
	withPath.AuthorizationServer.Issuer = "https://gw.example.com/tenant/"
	if err := withPath.compile(); err != nil {
		t.Fatal(err)
	}
	if got := withPath.authServer.wellKnownPath(); got != AuthorizationServerWellKnown+"/tenant" {
		t.Fatalf("metadata path for an issuer with a path: %q", got)
	}
}
