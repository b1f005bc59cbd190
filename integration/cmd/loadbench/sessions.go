package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// benchUser logs in for the session scenarios.
var benchUser = oidcprovider.User{ID: "u-bench", Username: "bench", Password: "bench-password", Email: "bench@example.test"}

// startIdP runs the test OpenID provider in process.
func startIdP() (*oidcprovider.Provider, error) {
	return oidcprovider.New(oidcprovider.Config{Users: []oidcprovider.User{benchUser}, AccessTokenLifetime: time.Hour, IDTokenLifetime: time.Hour})
}

// login registers the scenario's gateway at the provider and logs in
// through it, keeping the session cookie for the load.
func login(name string, port int, env *benchEnv) error {
	gw := fmt.Sprintf("http://127.0.0.1:%d", port)
	env.registerRedirect(gw + "/.portcullis/callback")
	c, err := harness.NewAgent().Login(gw, "/", "portcullis", benchUser.Username, benchUser.Password)
	if err != nil {
		return fmt.Errorf("%s: login: %w", name, err)
	}
	if c == "" {
		return fmt.Errorf("%s: login gave no session cookie", name)
	}
	env.cookies[name] = c
	return nil
}

// startRedis runs a throwaway redis-server on a free port.
func startRedis(dir string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting redis-server: %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	if err := waitPort(port, listenTimeout); err != nil {
		stop()
		return "", nil, err
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), stop, nil
}
