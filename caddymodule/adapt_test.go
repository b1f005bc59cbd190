package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// adapt adapts a Caddyfile named "Caddyfile" and returns the JSON, and
// the portcullis directive's warnings, each as "file:line: directive:
// message".
func adapt(t *testing.T, body []byte) ([]byte, []string, error) {
	t.Helper()
	var warnings []caddyconfig.Warning
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile", warningsOption: &warnings})
	var ws []string
	for _, w := range warnings {
		ws = append(ws, fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message))
	}
	return out, ws, err
}

// TestAdaptGolden adapts each testdata/adapt/*.caddyfiletest (a Caddyfile,
// a line of dashes, the expected JSON, and optionally another line of
// dashes and the expected warnings, one per line, each the start of
// "file:line: directive: message") and compares, then provisions the
// result without starting it, as `caddy validate` does. A golden file
// without warnings expects none.
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
			parts := bytes.Split(raw, []byte("\n----------\n"))
			if len(parts) < 2 || len(parts) > 3 {
				t.Fatalf("%s needs one or two ---------- separators", f)
			}
			in, want := parts[0], parts[1]
			var wantWarnings []string
			if len(parts) == 3 {
				wantWarnings = strings.Split(strings.TrimSpace(string(parts[2])), "\n")
			}
			got, warnings, err := adapt(t, in)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if len(warnings) != len(wantWarnings) {
				t.Fatalf("warnings\n  %s\nwant\n  %s", strings.Join(warnings, "\n  "), strings.Join(wantWarnings, "\n  "))
			}
			for i, w := range wantWarnings {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %d\n  %s\nwant it to start with\n  %s", i, warnings[i], w)
				}
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
// fails with every mistake its first lines name (`# error: Caddyfile:N:
// <message>`, one line per mistake): each message at its line, and no
// other mistake.
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
			want := expectedMistakes(t, f, string(raw))
			_, _, err = adapt(t, raw)
			if err == nil {
				t.Fatalf("adapt accepted %s", f)
			}
			msg := err.Error()
			for _, m := range want {
				if !m.reportedIn(msg) {
					t.Errorf("error\n  %v\nwant a line that contains\n  %s\nand ends with\n  , at %s", err, m.message, m.where)
				}
			}
			if got := strings.Count(msg, ", at Caddyfile:"); got != len(want) {
				t.Errorf("error reports %d mistakes, want %d:\n%v", got, len(want), err)
			}
			for _, secret := range testEnv {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals a secret: %v", err)
				}
			}
		})
	}
}

// mistake is one expected error of a broken Caddyfile.
type mistake struct{ where, message string }

// reportedIn reports whether a line of msg holds the mistake's message
// and ends with its place.
func (m mistake) reportedIn(msg string) bool {
	for _, line := range strings.Split(msg, "\n") {
		if strings.Contains(line, m.message) && strings.HasSuffix(line, ", at "+m.where) {
			return true
		}
	}
	return false
}

// expectedMistakes reads the leading `# error: Caddyfile:N: <message>`
// lines of a broken Caddyfile.
func expectedMistakes(t *testing.T, name, raw string) []mistake {
	t.Helper()
	var out []mistake
	for _, line := range strings.Split(raw, "\n") {
		spec, ok := strings.CutPrefix(line, "# error: ")
		if !ok {
			break
		}
		where, message, ok := strings.Cut(spec, ": ")
		if !ok {
			t.Fatalf("%s: %q is not '# error: Caddyfile:N: <message>'", name, line)
		}
		out = append(out, mistake{where, message})
	}
	if len(out) == 0 {
		t.Fatalf("%s must start with '# error: Caddyfile:N: <message>'", name)
	}
	return out
}
