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

// nginxBinary is Debian's nginx (package nginx), which
// integration/test-all.sh installs when it is missing.
const nginxBinary = "/usr/sbin/nginx"

// TestForwardAuthNginx puts a real nginx, configured with the server
// block of deploy/forward-auth/nginx.conf (addresses replaced), in front
// of the recording upstream, asking the gateway with auth_request.
func TestForwardAuthNginx(t *testing.T) {
	t.Parallel()
	e := withFrontDoor(t, func(e *faEnv) error { return startNginx(t, e.frontPort, nginxFrontConfig(t, e)) })
	frontDoorSuite(t, e)
}

// nginxFrontConfig is deploy/forward-auth/nginx.conf for e: listening on
// the front door's port, asking the gateway, proxying to the upstream.
func nginxFrontConfig(t *testing.T, e *faEnv) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "deploy", "forward-auth", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range [][2]string{
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", e.frontPort)},
		{"server portcullis:9000;", fmt.Sprintf("server 127.0.0.1:%d;", e.gw.Ports.HTTP)},
		{"server app:8080;", "server " + e.up.Addr + ";"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("deploy/forward-auth/nginx.conf no longer contains %q, which the test replaces", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return conf
}

// startNginx runs nginx in the foreground, as one process, with its
// prefix, temporary files and pid file in a temporary directory, serving
// the server blocks in servers; it waits until port accepts connections
// and stops nginx at cleanup. It returns errFrontPortTaken when nginx
// cannot bind port, and fails the test on any other problem.
func startNginx(t *testing.T, port int, servers string) error {
	t.Helper()
	if _, err := os.Stat(nginxBinary); err != nil {
		t.Fatalf("nginx is required at %s (apt-get install -y nginx; integration/test-all.sh does it): %v", nginxBinary, err)
	}
	dir := t.TempDir()
	var temps []string
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		p := filepath.Join(dir, "tmp", d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		temps = append(temps, fmt.Sprintf("\t%s_temp_path %s;", d, p))
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %s;
error_log stderr notice;
events {
	worker_connections 256;
}
http {
	access_log off;
%s
%s
}
`, filepath.Join(dir, "nginx.pid"), strings.Join(temps, "\n"), servers)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginxBinary, "-p", dir, "-c", path, "-e", "stderr")
	return startFront(t, "nginx", cmd, syscall.SIGQUIT, port, "Address already in use", conf)
}

// startFront starts a front proxy's process, stops it with stop at
// cleanup (killing it if it lingers), and waits until it listens on
// port. It reports errFrontPortTaken when the process exits saying
// inUse (another process took the port meanwhile); any other exit fails
// the test with the process's output and conf.
func startFront(t *testing.T, what string, cmd *exec.Cmd, stop os.Signal, port int, inUse, conf string) error {
	t.Helper()
	out := &harness.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(stop)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", what, out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second) // "hung", not "slow"
	for {
		select {
		case <-done:
			if strings.Contains(out.String(), inUse) {
				return fmt.Errorf("%w: %s could not listen on %d", errFrontPortTaken, what, port)
			}
			t.Fatalf("%s exited: %v\n%s\n--- configuration\n%s", what, cmd.ProcessState, out.String(), conf)
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %d after 60s\n%s", what, port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
