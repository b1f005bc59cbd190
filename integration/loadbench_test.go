package integration_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestLoadBenchSmoke runs the load benchmark briefly (one round, short
// windows, a few configurations) so the command in README keeps working.
// The figures themselves come from full runs, not from this test, so it
// runs the binary the other tests built rather than compiling another.
func TestLoadBenchSmoke(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is not installed (integration/test-all.sh installs it): ", err)
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "./cmd/loadbench",
		"-rounds", "1", "-duration", "1s", "-warmup", "1s", "-tokens", "200", "-connections", "4", "-only", "apikey,deny",
		"-binary", harness.Binary(t))
	cmd.Dir = filepath.Join(harness.RepoRoot(), "integration")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loadbench: %v\n%s", err, out)
	}
	for _, want := range []string{"| plain | ", "| apikey | ", "| deny | ", "× plain"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("loadbench output lacks %q:\n%s", want, out)
		}
	}
}
