package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ports are the loopback ports a gateway uses.
type Ports struct {
	// HTTP is the port the site listens on.
	HTTP int
	// Admin is the port of Caddy's admin API.
	Admin int
}

// Gateway is a running portcullis process.
type Gateway struct {
	// Ports it listens on.
	Ports Ports
	// URL is http://127.0.0.1:<HTTP port>.
	URL string

	t      testing.TB
	cmd    *exec.Cmd
	config string
	// out is the file the process writes its stdout and stderr to:
	// written by the process's own system calls, so a log line written
	// before an answer is in it by the time the answer arrives (a pipe
	// copied by a goroutine could lag).
	out  string
	done chan struct{}
}

// Caddyfile makes a gateway's configuration for the given ports. The
// global options must include `admin 127.0.0.1:<Admin>`; Global does.
type Caddyfile func(p Ports) string

// Global returns the admin line every test Caddyfile needs in its
// global options block.
func (p Ports) Global() string {
	return fmt.Sprintf("admin 127.0.0.1:%d\n\tauto_https off", p.Admin)
}

// Options configure a gateway process.
type Options struct {
	// Caddyfile makes the configuration.
	Caddyfile Caddyfile
	// Env returns extra environment variables (KEY=VALUE); may be nil.
	Env func(p Ports) []string
}

// StartGateway writes the Caddyfile, runs `portcullis run` on it with
// the extra environment variables (KEY=VALUE), and waits until the site
// port accepts connections. The process is stopped at test cleanup.
func StartGateway(t testing.TB, conf Caddyfile, env ...string) *Gateway {
	t.Helper()
	return Start(t, Options{Caddyfile: conf, Env: func(Ports) []string { return env }})
}

// Start is StartGateway with every option.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	for attempt := 1; ; attempt++ {
		g, err := start(t, o)
		switch {
		case err == nil:
			return g
		case !errors.Is(err, errPortTaken) || attempt == 5:
			t.Fatalf("portcullis did not start: %v\n--- output\n%s", err, g.Logs())
		}
		g.Stop()
		t.Logf("portcullis: %v; starting it again on other ports", err)
	}
}

// errPortTaken means another process took a port chosen for the gateway
// before the gateway could listen on it (see listeners.go).
var errPortTaken = errors.New("a port chosen for the gateway was taken by another process")

// start runs one gateway process on fresh ports and waits until it alone
// listens on them.
func start(t testing.TB, o Options) (*Gateway, error) {
	t.Helper()
	p := Ports{HTTP: FreePort(t), Admin: FreePort(t)}
	var env []string
	if o.Env != nil {
		env = o.Env(p)
	}
	conf := o.Caddyfile
	dir := t.TempDir()
	g := &Gateway{Ports: p, URL: fmt.Sprintf("http://127.0.0.1:%d", p.HTTP), t: t,
		config: filepath.Join(dir, "Caddyfile"), out: filepath.Join(dir, "output.log"), done: make(chan struct{})}
	if err := os.WriteFile(g.config, []byte(conf(p)), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(Binary(t), "run", "--config", g.config, "--adapter", "caddyfile")
	g.cmd.Env = append(append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), env...)
	out, err := os.OpenFile(g.out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = g.cmd.Start()
	out.Close() // the process has its own copy
	if err != nil {
		t.Fatalf("starting portcullis: %v", err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(g.Stop)
	return g, g.waitListening(60 * time.Second) // "hung", not "slow"
}

// waitListening waits until the process listens on its HTTP and admin
// ports and no other process does.
func (g *Gateway) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			if strings.Contains(g.Logs(), "address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("process exited: %v", g.cmd.ProcessState)
		default:
		}
		switch owner, err := ownership(g.cmd.Process.Pid, g.Ports.HTTP, g.Ports.Admin); {
		case err != nil:
			// The process may be exiting: its /proc entries go before
			// Wait returns (a zombie has no fd table). Look again; the
			// top of the loop reports an exit, the deadline an error
			// that persists.
			lastErr = err
		case owner == portShared:
			// Another process listens there too. Look again, in case
			// that listener was closing (Caddy replaces its own).
			time.Sleep(50 * time.Millisecond)
			if again, who, err := ownershipDetail(g.cmd.Process.Pid, g.Ports.HTTP, g.Ports.Admin); err == nil && again == portShared {
				return fmt.Errorf("%w (%s)", errPortTaken, who)
			}
		case owner == portOwned:
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr != nil {
		return fmt.Errorf("checking the gateway's listeners: %w", lastErr)
	}
	return fmt.Errorf("ports %d and %d not listening after %s", g.Ports.HTTP, g.Ports.Admin, timeout)
}

// Reload replaces the configuration with `portcullis reload`, as an
// operator would.
func (g *Gateway) Reload(conf Caddyfile) error {
	if err := os.WriteFile(g.config, []byte(conf(g.Ports)), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(Binary(g.t), "reload", "--config", g.config, "--adapter", "caddyfile",
		"--address", fmt.Sprintf("127.0.0.1:%d", g.Ports.Admin))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("reload: %w\n%s", err, out)
	}
	return nil
}

// Logs returns everything the process wrote so far.
func (g *Gateway) Logs() string {
	b, err := os.ReadFile(g.out)
	if err != nil {
		return fmt.Sprintf("(reading the gateway's output: %v)", err)
	}
	return string(b)
}

// Stop terminates the process (SIGTERM, then SIGKILL after 5 s).
func (g *Gateway) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// Do sends a request to the gateway with the given headers and returns
// the response with its body read.
func (g *Gateway) Do(t testing.TB, method, path string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = append(req.Header[k], v) // raw names, as a client may send them
	}
	return Send(t, req)
}

// Send performs req with a timeout that means "hung" and reads the body.
func Send(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// LockedBuffer collects a process's output: safe for the process's
// writers and the test's readers at once.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
