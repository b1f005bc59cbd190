package caddymodule

import (
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestZoneKeyMatchesReplaceAll: the single-placeholder shortcut gives
// what ReplaceAll gives, for known, unknown, empty and non-string
// values, and templates that are not one placeholder take ReplaceAll.
func TestZoneKeyMatchesReplaceAll(t *testing.T) {
	t.Parallel()
	repl := caddy.NewReplacer()
	repl.Set("http.auth.user.id", "alice")
	repl.Set("empty", "")
	repl.Set("num", 42)
	repl.Set("a", "x")
	for _, tmpl := range []string{
		"{http.auth.user.id}", "{unknown.placeholder}", "{empty}", "{num}", "{a}",
		"", "plain", "{}", "{", "}", "{a}{a}", "u:{a}", "{a}:u", "{a\\}", "\\{a}", "{{a}}", "{a}}", "{{a}",
	} {
		want := repl.ReplaceAll(tmpl, "")
		if got := zoneKey(repl, tmpl); got != want {
			t.Errorf("zoneKey(%q) = %q, ReplaceAll gives %q", tmpl, got, want)
		}
	}
}

// TestAppendQuotedMatchesAppendQuote covers every byte value alone and
// within a zone-like name.
func TestAppendQuotedMatchesAppendQuote(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		if got, want := string(appendQuoted(nil, s)), strconv.Quote(s); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
	}
	check("")
	check("per_user")
	check("api_key")
	check("héllo")
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("zone-" + string([]byte{byte(c)}) + "-x")
	}
}
