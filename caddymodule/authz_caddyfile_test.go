package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestAuthzRouteGrammar reads route lines with and without `when`, and
// checks the JSON each becomes (the Caddyfile and JSON mirror each other)
// or the mistake it is.
func TestAuthzRouteGrammar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		want       string // the handler's JSON, or the start of the error after "error: "
	}{
		{name: "require when groups", line: "require orders:admin methods DELETE when groups admins ops",
			want: `{"require":[{"scopes":["orders:admin"],"methods":["DELETE"],"when":{"groups":["admins","ops"]}}]}`},
		{name: "require any when claim", line: "require any a b when claim /org/tier gold silver",
			want: `{"require":[{"scopes":["a","b"],"any":true,"when":{"claim":"/org/tier","values":["gold","silver"]}}]}`},
		{name: "max_age without condition", line: "max_age 5m", want: `{"max_age":300000000000}`},
		{name: "max_age when", line: "max_age 5m when groups admins", want: `{"step_up":[{"max_age":300000000000,"when":{"groups":["admins"]}}]}`},
		{name: "acr when", line: "acr urn:a urn:b when claim amr otp", want: `{"step_up":[{"acr":["urn:a","urn:b"],"when":{"claim":"amr","values":["otp"]}}]}`},
		{name: "acr without condition", line: "acr urn:a", want: `{"acr":["urn:a"]}`},
		{name: "mfa", line: "mfa", want: `{"mfa":{}}`},
		{name: "mfa off", line: "mfa off", want: `{"mfa":{"off":true}}`},
		{name: "mfa when", line: "mfa when groups ops", want: `{"mfa":{"when":{"groups":["ops"]}}}`},
		{name: "when without condition", line: "require a when", want: "error: a condition is missing"},
		{name: "when with an empty qualifier", line: "require a methods when groups x", want: "error: require: a qualifier"},
		{name: "unknown condition", line: "require a when scope b", want: `error: unknown condition "scope"`},
		{name: "groups without names", line: "max_age 5m when groups", want: "error: groups needs at least one group name"},
		{name: "claim without value", line: "acr x when claim tier", want: "error: claim needs a claim and at least one value"},
		{name: "claim syntax", line: "mfa when claim realm_access.roles ops", want: `error: policy: unknown claim syntax "realm_access.roles"`},
		{name: "max_age two durations", line: "max_age 5m 6m when groups a", want: "error: wrong argument count"},
		{name: "max_age not a duration", line: "max_age soon", want: `error: "soon" is not a duration`},
		{name: "mfa off with a condition", line: "mfa off when groups a", want: `error: mfa: unexpected "off"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("portcullis {\n" + tt.line + "\n}"))
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(h)
			if string(got) != tt.want {
				t.Fatalf("JSON\n  %s\nwant\n  %s", got, tt.want)
			}
			var back Handler
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back); string(again) != string(got) {
				t.Fatalf("JSON round trip: %s", again)
			}
		})
	}
}

// TestAuthzGlobalGrammar reads the global option's authorization lines.
func TestAuthzGlobalGrammar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       string // the app's JSON, or "error: " and part of the error
	}{
		{name: "grant to groups", body: "known_scopes a b\ngrant a b to groups x y",
			want: `{"known_scopes":["a","b"],"grants":[{"scopes":["a","b"],"to":{"groups":["x","y"]}}]}`},
		{name: "grant to claim, declared later", body: "grant a to claim email_verified true\nscope a implies b",
			want: `{"scopes":[{"name":"a","implies":["b"]}],"grants":[{"scopes":["a"],"to":{"claim":"email_verified","values":["true"]}}]}`},
		{name: "identity_groups mentioned", body: "identity_groups mentioned a", want: `{"identity_groups":{"mentioned":true,"groups":["a"]}}`},
		{name: "identity_groups list", body: "identity_groups a b", want: `{"identity_groups":{"groups":["a","b"]}}`},
		{name: "mfa", body: "mfa {\nrequired_for groups admins\nrequired_for claim /roles ops\nmethods otp\nacr urn:mfa\ngrace 1h\n}",
			want: `{"mfa":{"required_for":[{"groups":["admins"]},{"claim":"/roles","values":["ops"]}],"methods":["otp"],"acr":["urn:mfa"],"grace":3600000000000}}`},
		{name: "undeclared", body: "grant a to groups x", want: "error: grant: scope a is not declared"},
		{name: "no to", body: "known_scopes a\ngrant a", want: "error: grant needs the form"},
		{name: "nothing before to", body: "grant to groups x", want: "error: grant needs the form"},
		{name: "bad scope", body: `grant "a b" to groups x`, want: "error: policy: scope"},
		{name: "identity_groups empty", body: "identity_groups", want: "error: identity_groups needs"},
		{name: "mfa twice", body: "mfa {\nmethods otp\n}\nmfa {\nmethods otp\n}", want: "error: mfa is given twice"},
		{name: "mfa argument", body: "mfa on {\nmethods otp\n}", want: "error: mfa takes a block"},
		{name: "mfa grace", body: "mfa {\nmethods otp\ngrace soon\n}", want: `error: "soon" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("portcullis {\n" + tt.body + "\n}"))
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(a); string(got) != tt.want {
				t.Fatalf("JSON\n  %s\nwant\n  %s", got, tt.want)
			}
			if err := a.compile(); err != nil {
				t.Fatalf("the JSON does not compile: %v", err)
			}
		})
	}
}
