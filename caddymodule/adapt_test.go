package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// Secrets the golden Caddyfiles reference through {env.*}.
var testEnv = map[string]string{
	"PORTCULLIS_TEST_REDIS_PASSWORD": "redis-secret",
	"PORTCULLIS_TEST_SESSION_KEYS":   "0123456789abcdef0123456789abcdef 1123456789abcdef0123456789abcdef",
	"PORTCULLIS_TEST_CLIENT_SECRET":  "client-secret",
}

func setTestEnv(t *testing.T) {
	t.Helper()
	for k, v := range testEnv {
		t.Setenv(k, v)
	}
}

func adapt(t *testing.T, name string, body []byte) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile"})
	_ = name
	return out, err
}

// TestAdaptGolden adapts each testdata/adapt/*.caddyfiletest (a Caddyfile,
// a line of dashes, the expected JSON) and compares, then provisions the
// result without starting it, as `caddy validate` does.
func TestAdaptGolden(t *testing.T) {
	setTestEnv(t)
	files, _ := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := bytes.Cut(raw, []byte("\n----------\n"))
			if !ok {
				t.Fatalf("%s has no ---------- separator", f)
			}
			got, err := adapt(t, f, in)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, &wantV); err != nil {
				t.Fatalf("expected JSON in %s: %v", f, err)
			}
			g, _ := json.MarshalIndent(gotV, "", "\t")
			w, _ := json.MarshalIndent(wantV, "", "\t")
			if !bytes.Equal(g, w) {
				t.Fatalf("adapted JSON differs\n--- got\n%s\n--- want\n%s", g, w)
			}
			cfg := new(caddy.Config)
			if err := json.Unmarshal(got, cfg); err != nil {
				t.Fatal(err)
			}
			if err := caddy.Validate(cfg); err != nil {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

// TestAdaptRejects checks that each broken Caddyfile in testdata/invalid
// fails at the line its first line names, with a message that contains
// the rest (`# error: Caddyfile:N: <message>`).
func TestAdaptRejects(t *testing.T) {
	setTestEnv(t)
	files, _ := filepath.Glob("testdata/invalid/*.caddyfile")
	if len(files) < 7 {
		t.Fatalf("want at least 7 broken Caddyfiles, have %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := bytes.Cut(raw, []byte("\n"))
			spec, ok := strings.CutPrefix(string(first), "# error: ")
			where, want, ok2 := strings.Cut(spec, ": ")
			if !ok || !ok2 {
				t.Fatalf("%s must start with '# error: Caddyfile:N: <message>'", f)
			}
			_, err = adapt(t, f, raw)
			if err == nil {
				t.Fatalf("adapt accepted %s", f)
			}
			if !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), ", at "+where) {
				t.Fatalf("error\n  %v\nwant it to contain\n  %s\nand end with\n  , at %s", err, want, where)
			}
			for _, secret := range testEnv {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals a secret: %v", err)
				}
			}
		})
	}
}
