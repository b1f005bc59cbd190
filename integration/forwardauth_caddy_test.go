package integration_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	out := &lockedLog{}
	cmd := exec.Command(harness.Binary(t), "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the front Caddy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("front Caddy output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second) // "hung", not "slow"
	for {
		select {
		case <-done:
			if strings.Contains(out.String(), "address already in use") {
				return fmt.Errorf("%w: the front Caddy could not listen on %d", errFrontPortTaken, port)
			}
			t.Fatalf("the front Caddy exited: %v\n%s\n--- Caddyfile\n%s", cmd.ProcessState, out.String(), conf)
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("the front Caddy does not listen on %d after 60s\n%s", port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
