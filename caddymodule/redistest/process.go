package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// fallbackBinary is where Debian's redis-server package installs it.
	fallbackBinary = "/usr/bin/redis-server"
	// startTimeout bounds the wait for a new server to answer PING:
	// "hung", never merely "slow" on a loaded machine.
	startTimeout = 60 * time.Second
	// bindAttempts is how often a start is retried on a fresh port when the
	// chosen one was taken between choosing and binding.
	bindAttempts = 5
	// logName is the server's log file inside its directory.
	logName = "redis.log"
	// confName is the server's configuration file inside its directory.
	confName = "redis.conf"
)

// errNoBinary reports a missing redis-server.
var errNoBinary = errors.New("redis-server not found in PATH or at " + fallbackBinary +
	"; install it (Debian/Ubuntu: apt-get install redis-server) to run these tests")

// serverBinary returns the path of the redis-server executable.
func serverBinary() (string, error) {
	return findBinary("redis-server", fallbackBinary)
}

// findBinary looks name up in PATH, then tries fallback.
func findBinary(name, fallback string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", errNoBinary
}

// freePorts returns n distinct free TCP ports on 127.0.0.1, none of them
// 6379. The listeners are held until all ports are chosen so the ports are
// distinct; another process may still take one before redis binds it, which
// callers handle by retrying.
func freePorts(n int) ([]int, error) {
	var (
		ports []int
		held  []net.Listener
	)
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		if port == 6379 || port+10000 == 6379 {
			continue
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// process is one running redis-server.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
}

// spawn starts redis-server with the configuration file in dir.
func spawn(bin, dir string) (*process, error) {
	cmd := exec.Command(bin, filepath.Join(dir, confName))
	cmd.Dir = dir
	isolate(cmd)
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// kill kills the process (group) and waits until it has exited.
func (p *process) kill() {
	killTree(p.cmd)
	<-p.done
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady waits until the server at addr answers PING, failing early if
// the process exits.
func waitReady(p *process, addr string) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("redis-server exited during start: %v", p.waitErr)
		}
		ours, err := answersAs(p, addr)
		if err == nil && ours {
			return nil
		}
		if err == nil {
			// Another test binary's server holds the port; ours will fail
			// to bind and exit, and the caller retries on fresh ports.
			err = fmt.Errorf("%s is served by another process", addr)
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("redis-server at %s did not answer PING within %v: %v", addr, startTimeout, lastErr)
}

// answersAs reports whether the server answering at addr is p itself,
// comparing the process_id in INFO server with p's pid. Without this check
// a server that failed to bind a port another test binary took meanwhile
// would look ready, and commands meant for it would reach the other one.
func answersAs(p *process, addr string) (bool, error) {
	info, err := doString(addr, 500*time.Millisecond, "INFO", "server")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return v == strconv.Itoa(p.cmd.Process.Pid), nil
		}
	}
	return false, fmt.Errorf("INFO server at %s has no process_id", addr)
}

// logTail returns the last lines of the server log in dir, for error messages.
func logTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// bindFailed reports whether the log in dir says a port was taken.
func bindFailed(dir string) bool {
	return strings.Contains(logTail(dir), "Address already in use")
}
