package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is a running portcullis binary.
type process struct {
	cmd  *exec.Cmd
	port int
	log  *os.File
	// helpers run for this process (a gateway behind nginx): their CPU
	// counts as its own (cpuTime), and stop stops them too.
	helpers []*process
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch says how to run one gateway process: its command line for a
// Caddyfile, extra environment, and how long it may take to listen.
type launch struct {
	// argv returns the command line that runs the Caddyfile at conf.
	argv func(conf string) []string
	// env is added to this process's environment.
	env []string
	// listenTimeout bounds the wait for the port.
	listenTimeout time.Duration
}

// listenTimeout bounds the wait for a directly run process (gateway,
// upstream, Redis) to listen.
const listenTimeout = 15 * time.Second

// direct runs `portcullis run` itself.
func direct(bin string) launch {
	return launch{
		argv:          func(conf string) []string { return []string{bin, "run", "--config", conf, "--adapter", "caddyfile"} },
		listenTimeout: listenTimeout,
	}
}

// start writes caddyfile into dir, runs it as l says, logging to a file
// in dir, and waits until port accepts connections.
func start(dir, name, caddyfile string, port int, l launch) (*process, error) {
	conf := filepath.Join(dir, name+".Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyfile), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", conf, err)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("creating log of %s: %w", name, err)
	}
	argv := l.argv(conf)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), l.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, port: port, log: logf}
	if err := waitPort(port, l.listenTimeout); err != nil {
		p.stop()
		log, _ := os.ReadFile(logf.Name())
		return nil, fmt.Errorf("%s: %w:\n%s", name, err, log)
	}
	return p, nil
}

// waitPort waits up to timeout until a loopback port accepts connections.
func waitPort(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on port %d after %s", port, timeout)
}

// pid is the process id (under valgrind, valgrind's, which runs the tool
// in the same process).
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end (SIGTERM), kills it after 5 s, and closes
// its log.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
	for _, h := range p.helpers {
		h.stop()
	}
}
