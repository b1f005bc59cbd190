package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The instruction-count load: one wrk thread, and enough connections to
// keep the (tens of times slower) gateway always busy. With the gateway
// on one P (GOMAXPROCS=1, see underCallgrind) that makes the count
// steady: an idle or spinning scheduler between requests added up to a
// third more instructions per request when another process slowed the
// run (4 connections, 2 Ps); with 16 connections and 1 P, runs on an
// idle and on a busy machine agree within 1%.
const (
	instructionsThreads     = 1
	instructionsConnections = 16
	instructionsWarmup      = 5 * time.Second
	// instructionsTimeout is wrk's request timeout under callgrind, where
	// a garbage collection or a counter dump can stall the gateway for
	// seconds (a 5 s timeout failed a run with 4 timed-out requests).
	instructionsTimeout = 60 * time.Second
	// dumpTimeout bounds the wait for callgrind's dump after asking for it.
	dumpTimeout = 60 * time.Second
)

// instructionCount is what callgrind counted for one configuration.
type instructionCount struct {
	name string
	// instructions the gateway process executed in the window (Ir).
	instructions int64
	// requests wrk completed in the window.
	requests int64
	// ref is the reference row's name ("" for none).
	ref string
	// gcs is the garbage collections the gateway ran in the window
	// (gctrace lines in its log), -1 when unknown.
	gcs int64
}

// gcsPerThousand is the garbage collections per 1,000 requests.
func (c instructionCount) gcsPerThousand() float64 {
	if c.requests == 0 || c.gcs < 0 {
		return 0
	}
	return float64(c.gcs) * 1000 / float64(c.requests)
}

// perRequest is the instructions per completed request.
func (c instructionCount) perRequest() float64 {
	if c.requests == 0 {
		return 0
	}
	return float64(c.instructions) / float64(c.requests)
}

// runInstructions measures each chosen configuration, one at a time, in
// a gateway process of its own under callgrind, and prints (and writes
// to instructions.md) the table.
func runInstructions(bin, dir string, chosen []scenario, env *benchEnv, o options) error {
	var counts []instructionCount
	for _, s := range chosen {
		if s.front != nil {
			// Two processes, and nginx's instructions are not the gateway's.
			fmt.Fprintf(os.Stderr, "instructions %-24s skipped: nginx in front\n", s.name)
			continue
		}
		c, err := measureInstructions(bin, dir, s, env, o)
		if err != nil {
			return fmt.Errorf("instructions, %s: %w", s.name, err)
		}
		counts = append(counts, c)
		fmt.Fprintf(os.Stderr, "instructions %-24s %10.0f /req  (%d requests)\n", s.name, c.perRequest(), c.requests)
	}
	md := instructionsHeader(o) + instructionsTable(counts)
	fmt.Print(md)
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", o.out, err)
		}
		if err := os.WriteFile(filepath.Join(o.out, "instructions.md"), []byte(md), 0o644); err != nil {
			return fmt.Errorf("writing instructions.md: %w", err)
		}
	}
	return nil
}

// measureInstructions starts the scenario's gateway under callgrind,
// logs in if the scenario needs it, warms it up, then counts the
// instructions of one window of load between zeroing and dumping
// callgrind's counters.
func measureInstructions(bin, dir string, s scenario, env *benchEnv, o options) (instructionCount, error) {
	port, err := freePort()
	if err != nil {
		return instructionCount{}, fmt.Errorf("finding a port: %w", err)
	}
	p, err := start(dir, s.name, s.site(port, env), port, underCallgrind(bin, dir, s.name, o.gogc))
	if err != nil {
		return instructionCount{}, err
	}
	defer func() {
		p.stop()
		if err := removeDumps(dir, s.name); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if s.ready != nil {
		if err := s.ready(s.name, port, env); err != nil {
			return instructionCount{}, err
		}
	}
	l := s.load(fmt.Sprintf("http://127.0.0.1:%d/bench", port), env)
	l.threads, l.connections, l.timeout = instructionsThreads, instructionsConnections, instructionsTimeout
	l.duration = instructionsWarmup
	w, err := runWrk(dir, l)
	if err != nil {
		return instructionCount{}, fmt.Errorf("warm-up: %w", err)
	}
	if l.tokensFile != "" {
		// Distinct tokens: the window must not reuse (cached) warm-up tokens.
		l.tokensFrom = int(w.Requests) + l.connections
	}
	before, err := dumpFiles(dir, s.name, p.pid())
	if err != nil {
		return instructionCount{}, err
	}
	gcs0, gcErr := gcCount(p.log.Name())
	if err := callgrindControl("-z", p.pid()); err != nil {
		return instructionCount{}, err
	}
	l.duration = o.window
	r, err := runWrk(dir, l)
	if err != nil {
		return instructionCount{}, err
	}
	if err := callgrindControl("-d", p.pid()); err != nil {
		return instructionCount{}, err
	}
	ir, dump, err := waitDump(dir, s.name, p.pid(), before, dumpTimeout)
	if err != nil {
		return instructionCount{}, err
	}
	if o.keepDumps != "" {
		if err := keepDump(dump, o.keepDumps, s.name); err != nil {
			return instructionCount{}, err
		}
	}
	gcs1, gcErr1 := gcCount(p.log.Name())
	gcs := gcs1 - gcs0
	if gcErr != nil || gcErr1 != nil || o.gogc == "off" {
		gcs = -1
	}
	if err := check(s, r); err != nil {
		return instructionCount{}, err
	}
	if used := int64(l.tokensFrom+l.connections) + r.Requests; l.tokensFile != "" && used > int64(o.tokens) {
		return instructionCount{}, fmt.Errorf("warm-up and window sent up to %d requests but there are only %d distinct tokens: raise -tokens", used, o.tokens)
	}
	return instructionCount{name: s.name, instructions: ir, requests: r.Requests, ref: s.ref, gcs: gcs}, nil
}

// instructionsHeader says how the instruction counts were made.
func instructionsHeader(o options) string {
	return fmt.Sprintf("Instructions per request, %s. Machine: %s, %s. One gateway process per configuration under callgrind "+
		"(GODEBUG=asyncpreemptoff=1,gctrace=1,cpu.rdtscp=off, GOMAXPROCS=1%s), wrk %d thread, %d connections, a %s window after %s warm-up. Counted: the user-space instructions "+
		"(callgrind's Ir) the gateway process executed between zeroing and dumping callgrind's counters, divided by the requests wrk "+
		"completed in the window; kernel time is not counted. Ratios against plain Caddy `reverse_proxy`; own cost against the row's reference "+
		"in the same run; garbage collections counted from the gateway's gctrace lines in the window.\n\n",
		time.Now().UTC().Format("2006-01-02"), machine(), valgrindVersion(), runNote(o), instructionsThreads, instructionsConnections, o.window, instructionsWarmup)
}

// instructionsTable renders the counts as a markdown table with ratios to
// plain, each gateway row's own cost (its instructions per request minus
// its reference row's), the garbage collections per 1,000 requests, and
// notes under it for the reference rows.
func instructionsTable(counts []instructionCount) string {
	per := map[string]float64{}
	for _, c := range counts {
		per[c.name] = c.perRequest()
	}
	plain := per["plain"]
	var b strings.Builder
	b.WriteString("| configuration | instructions/req (gateway, user space) | × plain | reference | own cost instructions/req | GCs per 1,000 req | requests measured |\n")
	b.WriteString("|---|---:|---:|---|---:|---:|---:|\n")
	for _, c := range counts {
		ratio := "–"
		if plain > 0 {
			ratio = fmt.Sprintf("%.2f", c.perRequest()/plain)
		}
		ref, own := "–", "–"
		if r, ok := per[c.ref]; ok && c.ref != "" {
			ref, own = c.ref, signedThousands(int64(math.Round(c.perRequest()-r)))
		}
		gcs := "–"
		if c.gcs >= 0 {
			gcs = fmt.Sprintf("%.2f", c.gcsPerThousand())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.name, thousands(int64(c.perRequest()+0.5)), ratio, ref, own, gcs, thousands(c.requests))
	}
	b.WriteString(notes(func(yield func(string) bool) {
		for _, c := range counts {
			if !yield(c.name) {
				return
			}
		}
	}))
	return b.String()
}

// signedThousands is thousands with a leading '+' for a positive n.
func signedThousands(n int64) string {
	if n > 0 {
		return "+" + thousands(n)
	}
	return thousands(n)
}

// gcCount counts the garbage collections a gateway logged (GODEBUG
// gctrace=1 writes one line `gc N @…` per collection to its stderr).
func gcCount(logPath string) (int64, error) {
	raw, err := os.ReadFile(logPath)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", logPath, err)
	}
	var n int64
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "gc ") && strings.Contains(line, " @") {
			n++
		}
	}
	return n, nil
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// runNote names, for the header, a -gogc setting and an audit mode
// other than the default.
func runNote(o options) string {
	note := ""
	if o.gogc != "" {
		note += ", GOGC=" + o.gogc
		if o.gogc == "off" {
			note += " (no garbage collection: the counts are the work alone)"
		}
	}
	switch o.auditLog {
	case auditOff:
		note += "; audit logger off (no event encoded)"
	case auditStderr:
		note += "; audit events on Caddy's default logger"
	}
	return note
}
