package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is one redis-server process on a loopback port. Its methods are
// safe for concurrent use.
type Server struct {
	bin    string
	dir    string // private temporary directory, removed by shutdown
	port   int
	conf   string // configuration file contents
	shared bool   // owned by the package registry: no Stop/Restart

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartStandalone starts a private standalone redis-server (database 0,
// no persistence, no password) and waits until it answers PING. The server
// is killed and its directory removed when the test ends. It fails the test
// if redis-server is not installed or does not start.
func StartStandalone(t testing.TB) *Server {
	t.Helper()
	s, err := startServer(1, standaloneConf)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.shutdown)
	return s
}

// standaloneConf is the configuration of a standalone server on ports[0].
func standaloneConf(ports []int) string {
	return baseConf(ports[0])
}

// baseConf is the configuration shared by every server: loopback only, no
// persistence, foreground, log file in the server's directory.
func baseConf(port int) string {
	return strings.Join([]string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"daemonize no",
		`save ""`,
		"appendonly no",
		"logfile " + logName,
		"",
	}, "\n")
}

// startServer creates a directory, picks nPorts free ports and starts a
// server with the configuration confFn builds from them (ports[0] is the
// client port). It retries on fresh ports when one was taken meanwhile.
func startServer(nPorts int, confFn func(ports []int) string) (*Server, error) {
	bin, err := serverBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-*")
	if err != nil {
		return nil, fmt.Errorf("creating server directory: %w", err)
	}
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(nPorts)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s := &Server{bin: bin, dir: dir, port: ports[0], conf: confFn(ports)}
		err = s.start()
		if err == nil {
			return s, nil
		}
		if attempt >= bindAttempts || !bindFailed(dir) {
			os.RemoveAll(dir)
			return nil, err
		}
		// The port was taken between choosing and binding: try new ones.
		os.Remove(filepath.Join(dir, logName))
	}
}

// start writes the configuration and starts the process. s.mu must be held
// or s not yet shared.
func (s *Server) start() error {
	if err := os.WriteFile(filepath.Join(s.dir, confName), []byte(s.conf), 0o600); err != nil {
		return fmt.Errorf("writing redis.conf: %w", err)
	}
	p, err := spawn(s.bin, s.dir)
	if err != nil {
		return err
	}
	if err := waitReady(p, s.Addr()); err != nil {
		p.kill()
		return fmt.Errorf("%v\nlast lines of %s:\n%s", err, filepath.Join(s.dir, logName), logTail(s.dir))
	}
	s.proc = p
	return nil
}

// Addr returns the server's "127.0.0.1:PORT" address. It stays the same
// across Stop and Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns "redis://127.0.0.1:PORT/0", a URL for redis.ParseURL.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Stop kills the server (SIGKILL, like a crash) and waits until it has
// exited; its port is then closed. Stopping a stopped server does nothing.
// Data is lost: the server persists nothing. Stop panics on a shared server,
// which other tests are using.
func (s *Server) Stop() {
	if s.shared {
		panic("redistest: Stop called on a shared server; use StartStandalone for outage tests")
	}
	s.stop()
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// Restart starts the server again on the same port and directory (killing
// it first if it is running) and waits until it answers PING; it starts with
// an empty keyspace. It fails the test if the server does not come back, for
// example because another process took the port meanwhile, or if the server
// is shared.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.shared {
		t.Fatalf("redistest: Restart called on a shared server; use StartStandalone for outage tests")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restarting %s: %v", s.Addr(), err)
	}
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// shutdown kills the server and removes its directory.
func (s *Server) shutdown() {
	s.stop()
	os.RemoveAll(s.dir)
}
