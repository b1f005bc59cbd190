package caddymodule

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

var envPlaceholder = regexp.MustCompile(`\{env\.([^{}]+)\}`)

// resolveSecret expands the global placeholders (`{env.*}`, `{file.*}`)
// in a secret-bearing field. Unlike Caddy's own expansion, an unset
// environment variable, an unreadable file or an empty result is an
// error: a secret must never silently become empty. Errors name the
// field and the variable, never the value.
func resolveSecret(field, raw string) (string, error) {
	for _, m := range envPlaceholder.FindAllStringSubmatch(raw, -1) {
		if _, ok := os.LookupEnv(m[1]); !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", field, m[1])
		}
	}
	out, err := caddy.NewReplacer().ReplaceOrErr(raw, true, true)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	if strings.TrimSpace(out) == "" {
		return "", fmt.Errorf("%s: value is empty", field)
	}
	return out, nil
}

// splitKeys splits an expanded keys value on spaces and commas.
func splitKeys(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

// minSecretBytes is the least length of session keys and the pepper.
const minSecretBytes = 32

// resolveSessionKeys expands and checks session keys: at least one, each
// at least minSecretBytes long.
func resolveSessionKeys(entries []string) ([][]byte, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("session: keys are missing; set `keys` to at least one random key of %d or more bytes (e.g. {env.PORTCULLIS_SESSION_KEYS})", minSecretBytes)
	}
	var keys [][]byte
	for i, e := range entries {
		v, err := resolveSecret(fmt.Sprintf("session: key %d", i+1), e)
		if err != nil {
			return nil, err
		}
		for j, k := range splitKeys(v) {
			if len(k) < minSecretBytes {
				return nil, fmt.Errorf("session: key %d.%d is %d bytes; keys must be at least %d bytes (generate one with `openssl rand -base64 48`)", i+1, j+1, len(k), minSecretBytes)
			}
			keys = append(keys, []byte(k))
		}
	}
	return keys, nil
}
