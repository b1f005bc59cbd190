package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestValidateJSON checks that JSON configs, which skip the Caddyfile
// adapter, are refused by Provision/Validate for the same reasons.
func TestValidateJSON(t *testing.T) {
	setTestEnv(t)
	route := func(handler string) string {
		return `"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + handler + `]}]}}}`
	}
	tests := []struct {
		name string
		apps string
		want string
	}{
		{name: "undefined zone", apps: `"portcullis":{},` + route(`{"handler":"portcullis","rate_limits":["nope"]}`), want: `zone "nope" is not declared`},
		{name: "short session key", apps: `"portcullis":{"session":{"keys":["short"]}}`, want: "keys must be at least 32 bytes"},
		{name: "missing session keys", apps: `"portcullis":{"session":{}}`, want: "keys are missing"},
		{name: "unset env", apps: `"portcullis":{"store":{"url":"redis://127.0.0.1:1","password":"{env.PORTCULLIS_TEST_UNSET_VARIABLE}"}}`, want: "environment variable PORTCULLIS_TEST_UNSET_VARIABLE is not set"},
		{name: "plain http issuer", apps: `"portcullis":{"jwt":[{"issuer":"http://idp.example.com","audiences":["a"]}]}`, want: "plain http"},
		{name: "duplicate issuer", apps: `"portcullis":{"jwt":[{"issuer":"https://a.example","audiences":["a"]},{"issuer":"https://a.example","audiences":["a"]}]}`, want: "declared twice"},
		{name: "duplicate zone", apps: `"portcullis":{"rate_limits":[{"name":"z","rate":"1/s"},{"name":"z","rate":"2/s"}]}`, want: "declared twice"},
		{name: "scope cycle", apps: `"portcullis":{"scopes":[{"name":"a","implies":["b"]},{"name":"b","implies":["a"]}]}`, want: "cycle: a -> b -> a"},
		{name: "alg none", apps: `"portcullis":{"jwt":[{"issuer":"https://a.example","audiences":["a"],"algorithms":["none"]}]}`, want: "never accepted"},
		{name: "bad identity header", apps: `"portcullis":{},` + route(`{"handler":"portcullis","identity_headers":{"subject":"X_User"}}`), want: "only letters, digits"},
		{name: "bad claim requirement", apps: `"portcullis":{},` + route(`{"handler":"portcullis","require_claims":[{"claim":"groups"}]}`), want: "at least one value"},
		{name: "redis url and addresses", apps: `"portcullis":{"store":{"url":"redis://127.0.0.1:1","addresses":["127.0.0.1:2"]}}`, want: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := new(caddy.Config)
			if err := json.Unmarshal([]byte(`{"admin":{"disabled":true},"apps":{`+tt.apps+`}}`), cfg); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestValidateDoesNoNetworkIO provisions a Redis store pointing at a
// closed port: validation must succeed without dialling (Redis is
// reached lazily, on first use).
func TestValidateDoesNoNetworkIO(t *testing.T) {
	cfg := new(caddy.Config)
	raw := `{"admin":{"disabled":true},"apps":{"portcullis":{"store":{"url":"redis://127.0.0.1:1/0"},
		"jwt":[{"issuer":"https://idp.invalid","audiences":["a"]}]}}}`
	if err := json.Unmarshal([]byte(raw), cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
