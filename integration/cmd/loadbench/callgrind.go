package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// callgrindListenTimeout bounds a gateway's start under callgrind, which
// takes several seconds.
const callgrindListenTimeout = 60 * time.Second

// checkCallgrind fails unless valgrind and callgrind_control are installed.
func checkCallgrind() error {
	for _, tool := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install valgrind): %w", tool, err)
		}
	}
	return nil
}

// valgrindVersion returns what `valgrind --version` prints, e.g.
// valgrind-3.19.0.
func valgrindVersion() string {
	out, err := exec.Command("valgrind", "--version").Output()
	if err != nil {
		return "valgrind"
	}
	return strings.TrimSpace(string(out))
}

// underCallgrind runs `portcullis run` under callgrind, which writes its
// dumps as cg.<name>.<pid>[.<n>] in dir. Go's asynchronous preemption
// signals upset valgrind, so they are turned off; one P keeps the
// scheduler from spinning between requests (see instructionsConnections).
// gctrace logs each garbage collection, which gcCount counts. Valgrind
// 3.19 does not know RDTSCP, which Go's runtime uses for its CPU ticks
// where the processor has it (SIGILL at start): cpu.rdtscp=off makes it
// take the fenced RDTSC path instead.
func underCallgrind(bin, dir, name, gogc string) launch {
	d := direct(bin)
	env := []string{"GODEBUG=asyncpreemptoff=1,gctrace=1,cpu.rdtscp=off", "GOMAXPROCS=1"}
	if gogc != "" {
		env = append(env, "GOGC="+gogc)
	}
	return launch{
		argv: func(conf string) []string {
			return append([]string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + dumpPrefix(dir, name) + "%p"}, d.argv(conf)...)
		},
		env:           env,
		listenTimeout: callgrindListenTimeout,
	}
}

// dumpPrefix is how the names of a scenario's dump files start.
func dumpPrefix(dir, name string) string {
	return filepath.Join(dir, "cg."+name+".")
}

// callgrindControl sends a command (-z zero, -d dump) to the callgrind
// running as pid and waits for its answer.
func callgrindControl(command string, pid int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "callgrind_control", command, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s %d: %w\n%s", command, pid, err, out)
	}
	if !bytes.Contains(out, []byte("OK")) {
		return fmt.Errorf("callgrind_control %s %d did not answer OK:\n%s", command, pid, out)
	}
	return nil
}

// dumpFiles lists the numbered dumps (cg.<name>.<pid>.<n>) of one process.
func dumpFiles(dir, name string, pid int) ([]string, error) {
	files, err := filepath.Glob(fmt.Sprintf("%s%d.*", dumpPrefix(dir, name), pid))
	if err != nil {
		return nil, fmt.Errorf("listing callgrind dumps: %w", err)
	}
	return files, nil
}

// waitDump waits until a numbered dump that is not among before appears
// and is complete, and returns its instruction count and file.
func waitDump(dir, name string, pid int, before []string, timeout time.Duration) (int64, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		files, err := dumpFiles(dir, name, pid)
		if err != nil {
			return 0, "", err
		}
		for _, f := range files {
			if slices.Contains(before, f) {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return 0, "", fmt.Errorf("reading callgrind dump: %w", err)
			}
			ir, complete, err := parseDump(raw)
			if err != nil {
				return 0, "", fmt.Errorf("%s: %w", f, err)
			}
			if complete {
				return ir, f, nil
			}
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("no complete callgrind dump of %s (pid %d) after %s", name, pid, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// parseDump reads a callgrind dump: its instruction count (Ir, the first
// event) from the `summary:` line, or from `totals:` when there is no
// summary. A dump is complete once its `totals:` line (written last) is
// ended by a newline; an incomplete dump gives complete false and no error.
func parseDump(raw []byte) (ir int64, complete bool, err error) {
	lines := strings.Split(string(raw), "\n")
	// The last element is unterminated (or empty): not trusted.
	lines = lines[:len(lines)-1]
	summary, totals := "", ""
	for _, line := range lines {
		if v, ok := strings.CutPrefix(line, "summary:"); ok && summary == "" {
			summary = v
		}
		if v, ok := strings.CutPrefix(line, "totals:"); ok {
			totals = v
		}
	}
	if totals == "" {
		return 0, false, nil
	}
	v := summary
	if v == "" {
		v = totals
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false, fmt.Errorf("empty summary in callgrind dump")
	}
	ir, err = strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("parsing callgrind summary %q: %w", v, err)
	}
	return ir, true, nil
}

// removeDumps deletes every dump file of a scenario.
func removeDumps(dir, name string) error {
	files, err := filepath.Glob(dumpPrefix(dir, name) + "*")
	if err != nil {
		return fmt.Errorf("listing callgrind dumps: %w", err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("removing callgrind dump: %w", err)
		}
	}
	return nil
}

// keepDump copies a window's dump into dir as callgrind.<name>.out.
func keepDump(dump, dir, name string) error {
	raw, err := os.ReadFile(dump)
	if err != nil {
		return fmt.Errorf("reading callgrind dump: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "callgrind."+name+".out"), raw, 0o644); err != nil {
		return fmt.Errorf("keeping callgrind dump: %w", err)
	}
	return nil
}
