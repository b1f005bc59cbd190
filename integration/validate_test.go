package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestValidateCommand runs `portcullis validate` and `portcullis adapt
// --validate` on the broken Caddyfiles of the unit golden tests: the
// binary must exit non-zero with every mistake each names (its leading
// `# error: Caddyfile:N: <reason>` lines), each reason on a line that
// ends with the file:line.
func TestValidateCommand(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "caddymodule", "testdata", "invalid", "*.caddyfile"))
	if len(files) < 7 {
		t.Fatalf("found %d broken Caddyfiles, want at least 7", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := expectedMistakes(t, f, string(raw))
			for _, args := range [][]string{
				{"validate", "--config", f, "--adapter", "caddyfile"},
				{"adapt", "--validate", "--config", f, "--adapter", "caddyfile"},
			} {
				raw, err := harness.Run(t, nil, args...)
				out := unescapeLogs(raw)
				if err == nil {
					t.Fatalf("%s accepted %s", args[0], f)
				}
				for _, m := range want {
					if !reported(out, m.reason, ", at "+f+":"+m.line) {
						t.Errorf("%s output\n%s\nwant a line that contains %q and ends with %q", args[0], out, m.reason, ", at "+f+":"+m.line)
					}
				}
			}
		})
	}
}

// mistake is one mistake a broken Caddyfile names.
type mistake struct{ line, reason string }

// expectedMistakes reads the leading `# error: Caddyfile:N: <reason>`
// lines of a broken Caddyfile.
func expectedMistakes(t *testing.T, name, raw string) []mistake {
	t.Helper()
	var out []mistake
	for _, line := range strings.Split(raw, "\n") {
		spec, ok := strings.CutPrefix(line, "# error: Caddyfile:")
		if !ok {
			break
		}
		n, reason, ok := strings.Cut(spec, ": ")
		if !ok {
			t.Fatalf("%s: %q is not '# error: Caddyfile:N: <reason>'", name, line)
		}
		out = append(out, mistake{n, reason})
	}
	if len(out) == 0 {
		t.Fatalf("%s must start with '# error: Caddyfile:N: <reason>'", name)
	}
	return out
}

// reported reports whether a line of out contains reason and ends with at.
func reported(out, reason, at string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, reason) && strings.HasSuffix(strings.TrimSpace(line), at) {
			return true
		}
	}
	return false
}

// TestValidateExample checks that the shipped example validates, with no
// warning about a collection its routes leave open.
func TestValidateExample(t *testing.T) {
	t.Parallel()
	out, err := harness.Run(t, nil, "validate", "--config", filepath.Join(harness.RepoRoot(), "Caddyfile.example"))
	if err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("Caddyfile.example does not validate: %v\n%s", err, out)
	}
	if strings.Contains(out, "uncovered") {
		t.Fatalf("Caddyfile.example leaves a collection open:\n%s", unescapeLogs(out))
	}
}

// TestValidateWarnsUncoveredCollection checks that `validate` and `adapt`
// warn, with the file and the directive's line, when a portcullis path
// matcher like /orders/* leaves /orders itself open, and say what to do;
// the configuration is still valid.
func TestValidateWarnsUncoveredCollection(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "Caddyfile")
	conf := `{
	portcullis {
		rate_limit per_user 100/1m
	}
}

http://:8080 {
	portcullis /orders* {
		rate_limit per_user
	}
	portcullis /users/* {
		rate_limit per_user
	}
	reverse_proxy 127.0.0.1:9000
}
`
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "--config", f, "--adapter", "caddyfile"},
		{"adapt", "--config", f, "--adapter", "caddyfile"},
	} {
		out, err := harness.Run(t, nil, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out)
		}
		var warnings []map[string]any
		for _, line := range strings.Split(out, "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) == nil && entry["level"] == "warn" && strings.Contains(fmt.Sprint(entry["msg"]), "uncovered") {
				warnings = append(warnings, entry)
			}
		}
		if len(warnings) != 1 {
			t.Fatalf("%s: %d uncovered-collection warnings, want 1:\n%s", args[0], len(warnings), out)
		}
		w := warnings[0]
		msg := fmt.Sprint(w["msg"])
		for _, want := range []string{"portcullis: path matcher /users/* leaves /users uncovered", "allow_anonymous", "/users*"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: warning %q does not say %q", args[0], msg, want)
			}
		}
		if w["file"] != f || w["line"] != float64(11) {
			t.Errorf("%s: warning at %v:%v, want %s:11", args[0], w["file"], w["line"], f)
		}
	}
}

// unescapeLogs turns Caddy's JSON log lines back into plain text (their
// msg and error fields), keeping other lines as they are.
func unescapeLogs(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			b.WriteString(line + "\n")
			continue
		}
		for _, k := range []string{"msg", "error"} {
			if v, ok := entry[k].(string); ok {
				b.WriteString(v + "\n")
			}
		}
	}
	return b.String()
}
