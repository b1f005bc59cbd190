package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTimingReportReferenceRow checks that the timing table notes the
// reference row and that its chart redraws from the written table.
func TestTimingReportReferenceRow(t *testing.T) {
	rows := []row{
		{name: "plain", rps: 9000, rpsRatio: 1, cpuRatio: 1},
		{name: referenceScenario, rps: 8500, rpsRatio: 0.94, cpuRatio: 1.08},
		{name: refAPIKey, rps: 8400, rpsRatio: 0.93, cpuRatio: 1.1},
		{name: "apikey", rps: 8000, rpsRatio: 0.89, cpuRatio: 1.2, ref: refAPIKey, refRatio: 0.95, ownCPU: 7.25},
	}
	md := markdown(rows, options{rounds: 1, threads: 2, conns: 32})
	for _, want := range []string{"| plain+identity | 8500 | 0.94 |", "| ref:apikey | 8400 | 0.93 |", "| – | – | – |\n",
		"| ref:apikey | 0.95 | +7.2 |\n", "| reference | × reference | own CPU µs/req |"} {
		if !strings.Contains(md, want) {
			t.Fatalf("timing table lacks %q:\n%s", want, md)
		}
	}
	if !strings.HasSuffix(md, "\n\n"+referenceNote+"\n"+refNote) {
		t.Fatalf("timing table notes:\n%s", md)
	}
	path := filepath.Join(t.TempDir(), "loadbench.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := redraw(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "loadbench.png")); err != nil {
		t.Fatal(err)
	}
}

// TestSummarizeAgainstReference checks that ratios and own cost are taken
// round by round, then their median.
func TestSummarizeAgainstReference(t *testing.T) {
	chosen := []scenario{{name: "plain"}, {name: refAPIKey}, {name: "apikey", ref: refAPIKey}}
	var ms []measurement
	for round, f := range []float64{1, 2, 4} {
		ms = append(ms,
			measurement{name: "plain", round: round, rps: 1000 * f, cpuUS: 100 / f},
			measurement{name: refAPIKey, round: round, rps: 900 * f, cpuUS: 110 / f},
			measurement{name: "apikey", round: round, rps: 855 * f, cpuUS: 120 / f})
	}
	rows := summarize(chosen, ms)
	a := rows[2]
	if a.ref != refAPIKey || math.Abs(a.refRatio-0.95) > 1e-9 || math.Abs(a.rpsRatio-0.855) > 1e-9 || math.Abs(a.ownCPU-5) > 1e-9 {
		t.Fatalf("apikey row: %+v", a)
	}
	if rows[1].ref != "" || rows[0].ref != "" {
		t.Fatalf("reference rows got a reference: %+v", rows[:2])
	}
}
