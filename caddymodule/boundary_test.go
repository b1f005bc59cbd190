package caddymodule

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCoreImportsNoCaddy keeps the core plain Go: no package under
// internal/ may depend, even indirectly, on Caddy or zap.
func TestCoreImportsNoCaddy(t *testing.T) {
	t.Parallel()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./internal/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var core int
	for _, line := range lines {
		pkg := strings.Fields(line)[0]
		if strings.Contains(pkg, "/caddymodule/internal/") {
			core++
		}
		for _, banned := range []string{"github.com/caddyserver/", "go.uber.org/zap"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("the core depends on %s (list the importer with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./caddymodule/internal/... | grep %s)", pkg, banned)
			}
		}
	}
	if core < 5 {
		t.Fatalf("go list found only %d core packages; is the pattern right?", core)
	}
}
