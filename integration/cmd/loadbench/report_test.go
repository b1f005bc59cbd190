package main

import (
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
		{name: "apikey", rps: 8000, rpsRatio: 0.89, cpuRatio: 1.2},
	}
	md := markdown(rows, options{rounds: 1, threads: 2, conns: 32})
	if !strings.Contains(md, "| plain+identity | 8500 | 0.94 |") || !strings.HasSuffix(md, "\n\n"+referenceNote) {
		t.Fatalf("timing table:\n%s", md)
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
