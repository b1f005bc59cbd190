// Package harness runs the real portcullis binary for end-to-end tests:
// it builds it once per test binary, starts it on loopback ports with
// generated Caddyfiles, and provides a small upstream that records what
// it receives.
package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// RepoRoot returns the root of the portcullis repository (the parent of
// the integration module).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds ./cmd/portcullis once per test binary and returns the
// path of the executable. A build failure fails the test.
//
// It compiles as the container image does (deploy/container/Dockerfile:
// CGO_ENABLED=0, -trimpath), so the tests run the binary that ships, and
// the deploy tests' run of the Dockerfile's build step finds every package
// already in the Go build cache and only links.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "portcullis-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "portcullis")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", build.path, "./cmd/portcullis")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("building portcullis: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Cleanup removes the binary Binary built; call it from TestMain after
// the tests.
func Cleanup() {
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
}

// Run runs the binary with args (and extra environment variables as
// KEY=VALUE) and returns its combined output and exit error.
func Run(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
