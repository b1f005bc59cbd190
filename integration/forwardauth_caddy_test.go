package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestForwardAuthCaddy puts a second Caddy (our binary, configured with
// deploy/forward-auth/Caddyfile.front, addresses replaced: only Caddy's
// own forward_auth, no Portcullis directive) in front of the recording
// upstream, asking the gateway.
func TestForwardAuthCaddy(t *testing.T) {
	t.Parallel()
	e := withFrontDoor(t, func(e *faEnv) error { return startCaddyFront(t, e.frontPort, caddyFrontConfig(t, e)) })
	frontDoorSuite(t, e)
}

// caddyFrontConfig is deploy/forward-auth/Caddyfile.front for e, after
// the global options a test process needs (admin port, no automatic
// HTTPS).
func caddyFrontConfig(t *testing.T, e *faEnv) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "forward-auth", "Caddyfile.front"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range [][2]string{
		{"app.example.com {", fmt.Sprintf("http://127.0.0.1:%d {", e.frontPort)},
		{"portcullis:9000", fmt.Sprintf("127.0.0.1:%d", e.gw.Ports.HTTP)},
		{"app:8080", e.up.Addr},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("deploy/forward-auth/Caddyfile.front no longer contains %q, which the test replaces", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n\tauto_https off\n}\n\n", harness.FreePort(t)) + conf
}

// startCaddyFront runs our binary on conf, whose site listens on port
// (chosen before the gateway started, which redirects logins there),
// waits until it listens and stops it at cleanup. It returns
// errFrontPortTaken when Caddy cannot bind port, and fails the test on
// any other problem.
func startCaddyFront(t *testing.T, port int, conf string) error {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Binary(t), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	return startFront(t, "the front Caddy", cmd, syscall.SIGTERM, port, "address already in use", conf)
}
