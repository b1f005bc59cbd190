// Command loadbench measures the portcullis binary under load, side by
// side with plain Caddy reverse_proxy, on loopback: every configuration
// runs as its own gateway process in front of one upstream process, and
// wrk (a separate process) drives them in interleaved rounds (A B C … A B
// C …) so machine drift hits all alike. It prints a markdown table of
// ratios to plain (median over rounds) and writes it with a chart.
//
//	go run ./cmd/loadbench -rounds 3 -duration 10s -out results
//
// With -instructions it measures instead, one configuration at a time,
// the instructions the gateway process executes per request under
// valgrind's callgrind: a deterministic figure on a noisy machine.
//
//	go run ./cmd/loadbench -instructions -out results
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	duration := flag.Duration("duration", 10*time.Second, "measured window per configuration and round")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up before each window")
	conns := flag.Int("connections", 32, "concurrent connections")
	threads := flag.Int("threads", 2, "wrk threads")
	out := flag.String("out", "", "directory for loadbench.md and loadbench.png (default: print only)")
	only := flag.String("only", "", "comma-separated configurations to run (plain always runs)")
	tokens := flag.Int("tokens", 30000, "distinct tokens for jwt-unique (more than the gateway's verified-token cache)")
	chartFrom := flag.String("chart-from", "", "only redraw the chart from a loadbench.md written earlier (into the same directory)")
	instructions := flag.Bool("instructions", false, "instead of timing rounds, count the gateway's instructions per request under callgrind (writes instructions.md)")
	window := flag.Duration("instructions-window", 20*time.Second, "measured window per configuration with -instructions")
	binary := flag.String("binary", "", "run this portcullis binary instead of building ./cmd/portcullis (the tests pass the one they built)")
	keepDumps := flag.String("keep-dumps", "", "with -instructions, copy each configuration's window dump here as callgrind.<name>.out (for callgrind_annotate)")
	gogc := flag.String("gogc", "", "with -instructions, the gateways' GOGC (e.g. off: count the work without garbage collection; the GC column is then empty)")
	auditLog := flag.String("audit", auditBuffered, "where gateways write audit events: buffered (portcullis_buffered into a file) or stderr (Caddy's default logger, a write per event; for binaries without portcullis_buffered), or off (no audit line: the own cost besides it)")
	flag.Parse()
	if *chartFrom != "" {
		if err := redraw(*chartFrom); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(options{rounds: *rounds, duration: *duration, warmup: *warmup, conns: *conns, threads: *threads, out: *out, only: *only, tokens: *tokens,
		instructions: *instructions, window: *window, binary: *binary, auditLog: *auditLog, keepDumps: *keepDumps, gogc: *gogc}); err != nil {
		log.Fatal(err)
	}
}

// options are the command's flags.
type options struct {
	rounds           int
	duration, warmup time.Duration
	conns, threads   int
	out, only        string
	tokens           int
	// instructions selects the callgrind mode; window is its measured window.
	instructions bool
	window       time.Duration
	// binary, if set, is the portcullis binary to run instead of a build.
	binary string
	// auditLog is auditBuffered, auditStderr or auditOff.
	auditLog string
	// keepDumps, if set, is where each window's callgrind dump is kept.
	keepDumps string
	// gogc, if set, is the GOGC of gateways under callgrind.
	gogc string
}

// run sets the benchmark up and runs the timing rounds or, with
// o.instructions, the instruction counts.
func run(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed (apt-get install wrk): %w", err)
	}
	if o.instructions {
		if err := checkCallgrind(); err != nil {
			return err
		}
	}
	if o.auditLog != auditBuffered && o.auditLog != auditStderr && o.auditLog != auditOff {
		return fmt.Errorf("-audit %q: want %s, %s or %s", o.auditLog, auditBuffered, auditStderr, auditOff)
	}
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.binary
	if bin == "" {
		if bin, err = build(dir); err != nil {
			return err
		}
	}
	env, cleanup, err := prepare(bin, dir, o.tokens)
	defer cleanup()
	if err != nil {
		return err
	}
	env.auditLog, env.dir = o.auditLog, dir
	chosen := choose(o.only)
	if o.instructions {
		return runInstructions(bin, dir, chosen, env, o)
	}
	return runTiming(bin, dir, chosen, env, o)
}

// choose returns the scenarios named in only (comma-separated; all when
// empty), plain and the reference row of each chosen row always among
// them, in report order.
func choose(only string) []scenario {
	named := func(name string) bool {
		return name == "plain" || only == "" || strings.Contains(","+only+",", ","+name+",")
	}
	refs := map[string]bool{}
	for _, s := range scenarios {
		if named(s.name) && s.ref != "" {
			refs[s.ref] = true
		}
	}
	var chosen []scenario
	for _, s := range scenarios {
		if named(s.name) || refs[s.name] {
			chosen = append(chosen, s)
		}
	}
	return chosen
}

// runTiming starts every chosen gateway, measures them in interleaved
// rounds, and prints (and writes) the table and chart.
func runTiming(bin, dir string, chosen []scenario, env *benchEnv, o options) error {
	gateways := map[string]*process{}
	for _, s := range chosen {
		port, err := freePort()
		if err != nil {
			return err
		}
		p, err := startScenario(dir, bin, s, port, env)
		if err != nil {
			return err
		}
		defer p.stop()
		gateways[s.name] = p
		if s.ready != nil {
			if err := s.ready(s.name, port, env); err != nil {
				return err
			}
		}
	}
	var results []measurement
	for round := 1; round <= o.rounds; round++ {
		for _, s := range chosen {
			m, err := measure(dir, s, gateways[s.name], env, o)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, s.name, err)
			}
			m.round = round
			results = append(results, m)
			fmt.Fprintf(os.Stderr, "round %d %-24s %8.0f req/s  p99 %6.2f ms  cpu %6.1f µs/req\n", round, s.name, m.rps, m.p99ms, m.cpuUS)
		}
	}
	for _, s := range chosen {
		if rss, err := peakRSS(gateways[s.name].pid()); err == nil {
			for i := range results {
				if results[i].name == s.name {
					results[i].rssMB = float64(rss) / (1 << 20)
				}
			}
		}
	}
	rows := summarize(chosen, results)
	md := markdown(rows, o)
	fmt.Print(md)
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, "loadbench.md"), []byte(md), 0o644); err != nil {
			return err
		}
		if err := chart(rows, filepath.Join(o.out, "loadbench.png")); err != nil {
			return err
		}
	}
	return nil
}

// build compiles ./cmd/portcullis from the repository root.
func build(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin := filepath.Join(dir, "portcullis")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/portcullis")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building portcullis: %w\n%s", err, out)
	}
	return bin, nil
}

// measurement is one configuration in one round.
type measurement struct {
	name         string
	round        int
	rps          float64
	p50ms, p99ms float64
	cpuUS        float64 // gateway CPU time per request, µs
	rssMB        float64
}

// measure warms a gateway up, then measures one window.
func measure(dir string, s scenario, p *process, env *benchEnv, o options) (measurement, error) {
	l := s.load(fmt.Sprintf("http://127.0.0.1:%d/bench", p.port), env)
	l.threads, l.connections = o.threads, o.conns
	l.duration = o.warmup
	if _, err := runWrk(dir, l); err != nil {
		return measurement{}, err
	}
	cpu0, err := p.cpuTime()
	if err != nil {
		return measurement{}, err
	}
	l.duration = o.duration
	r, err := runWrk(dir, l)
	if err != nil {
		return measurement{}, err
	}
	cpu1, err := p.cpuTime()
	if err != nil {
		return measurement{}, err
	}
	if err := check(s, r); err != nil {
		return measurement{}, err
	}
	return measurement{
		name:  s.name,
		rps:   float64(r.Requests) / (float64(r.DurationUS) / 1e6),
		p50ms: float64(r.P50US) / 1000, p99ms: float64(r.P99US) / 1000,
		cpuUS: float64((cpu1 - cpu0).Microseconds()) / float64(r.Requests),
	}, nil
}

// check fails a measured window that had socket errors, a response of
// another status than the scenario wants, or no requests at all.
func check(s scenario, r wrkResult) error {
	if r.Errors > 0 {
		return fmt.Errorf("%d socket errors", r.Errors)
	}
	if (s.wantStatus == 200 && r.Non2xx != 0) || (s.wantStatus != 200 && r.Non2xx != r.Requests) {
		return fmt.Errorf("%d of %d responses had an unexpected status (want %d)", r.Non2xx, r.Requests, s.wantStatus)
	}
	if r.Requests == 0 {
		return fmt.Errorf("no requests completed")
	}
	return nil
}
