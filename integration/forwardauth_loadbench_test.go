package integration_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestForwardAuthLoadBenchSmoke runs the load benchmark's nginx rows
// briefly (nginx alone, and nginx asking the gateway with the shipped
// deploy/forward-auth/nginx.conf), so that they keep working; the
// figures come from full runs.
//
// Not parallel: the benchmark picks its processes' ports itself, outside
// harness.FreePort, so it runs before the parallel tests pick theirs.
func TestForwardAuthLoadBenchSmoke(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is not installed (integration/test-all.sh installs it): ", err)
	}
	var out []byte
	for attempt := 1; ; attempt++ {
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "./cmd/loadbench",
			"-rounds", "1", "-duration", "1s", "-warmup", "1s", "-connections", "4", "-tokens", "200", "-only", "nginx,nginx+forward-auth",
			"-binary", harness.Binary(t))
		cmd.Dir = filepath.Join(harness.RepoRoot(), "integration")
		var err error
		out, err = cmd.CombinedOutput()
		if err == nil {
			break
		}
		// The benchmark takes a free port and binds it a moment later;
		// another process's connection may take it meanwhile.
		if !strings.Contains(string(out), "address already in use") || attempt == 3 {
			t.Fatalf("loadbench: %v\n%s", err, out)
		}
		t.Logf("loadbench: a port was taken meanwhile; running it again")
	}
	for _, want := range []string{"| plain | ", "| nginx | ", "| nginx+forward-auth | "} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("loadbench output lacks %q:\n%s", want, out)
		}
	}
}
