//go:build !linux

package redistest

import "os/exec"

// isolate does nothing outside Linux: there is no parent-death signal, so a
// test binary that dies without running its cleanups leaves servers behind.
func isolate(*exec.Cmd) {}

// startCmd starts cmd.
func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

// killTree kills the server process.
func killTree(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
