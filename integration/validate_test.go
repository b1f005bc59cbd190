package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestValidateCommand runs `portcullis validate` and `portcullis adapt
// --validate` on the broken Caddyfiles of the unit golden tests: the
// binary must exit non-zero with the file:line and the reason.
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
			first, _, _ := strings.Cut(string(raw), "\n")
			where, want, _ := strings.Cut(strings.TrimPrefix(first, "# error: "), ": ")
			_, line, _ := strings.Cut(where, ":")
			// The binary names the file by its path.
			wantAt := ", at " + f + ":" + line
			for _, args := range [][]string{
				{"validate", "--config", f, "--adapter", "caddyfile"},
				{"adapt", "--validate", "--config", f, "--adapter", "caddyfile"},
			} {
				raw, err := harness.Run(t, nil, args...)
				out := unescapeLogs(raw)
				if err == nil {
					t.Fatalf("%s accepted %s", args[0], f)
				}
				if !strings.Contains(out, want) || !strings.Contains(out, wantAt) {
					t.Fatalf("%s output\n%s\nwant it to contain %q and %q", args[0], out, want, wantAt)
				}
			}
		})
	}
}

// TestValidateExample checks that the shipped example validates.
func TestValidateExample(t *testing.T) {
	t.Parallel()
	out, err := harness.Run(t, nil, "validate", "--config", filepath.Join(harness.RepoRoot(), "Caddyfile.example"))
	if err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("Caddyfile.example does not validate: %v\n%s", err, out)
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
