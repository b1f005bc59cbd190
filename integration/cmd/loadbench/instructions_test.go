package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstructionsTable checks the rendering, ratios to plain and the reference note.
func TestInstructionsTable(t *testing.T) {
	got := instructionsTable([]instructionCount{
		{name: "plain", instructions: 1_138_000_000, requests: 4000, gcs: 12},
		{name: referenceScenario, instructions: 1_300_000_000, requests: 4000, gcs: -1},
		{name: refAPIKey, instructions: 1_400_000_000, requests: 4000, gcs: 12},
		{name: "apikey", instructions: 1_536_000_000, requests: 4000, ref: refAPIKey, gcs: 16},
		{name: "deny", instructions: 569_000_000, requests: 2000, ref: "plain", gcs: 2},
	})
	want := "| configuration | instructions/req (gateway, user space) | × plain | reference | own cost instructions/req | GCs per 1,000 req | requests measured |\n" +
		"|---|---:|---:|---|---:|---:|---:|\n" +
		"| plain | 284,500 | 1.00 | – | – | 3.00 | 4,000 |\n" +
		"| plain+identity | 325,000 | 1.14 | – | – | – | 4,000 |\n" +
		"| ref:apikey | 350,000 | 1.23 | – | – | 3.00 | 4,000 |\n" +
		"| apikey | 384,000 | 1.35 | ref:apikey | +34,000 | 4.00 | 4,000 |\n" +
		"| deny | 284,500 | 1.00 | plain | 0 | 1.00 | 2,000 |\n" +
		"\n" + referenceNote + "\n" + refNote
	if got != want {
		t.Fatalf("instructionsTable:\n%s\nwant:\n%s", got, want)
	}
	for _, note := range []string{referenceNote, refNote} {
		if strings.Contains(note, "|") {
			t.Fatal("a note has a '|': redraw would read it as a row")
		}
	}
	got = instructionsTable([]instructionCount{{name: "apikey", instructions: 10, requests: 1, ref: refAPIKey}})
	if !strings.Contains(got, "| apikey | 10 | – | – | – | 0.00 | 1 |") || strings.Contains(got, referenceScenario) || strings.Contains(got, "`ref:`") {
		t.Fatalf("table without plain or reference:\n%s", got)
	}
	got = instructionsTable([]instructionCount{{name: "plain", instructions: 5000, requests: 1}, {name: "deny", instructions: 2000, requests: 1, ref: "plain"}})
	if !strings.Contains(got, "| deny | 2,000 | 0.40 | plain | -3,000 |") {
		t.Fatalf("negative own cost:\n%s", got)
	}
}

// TestGCCount counts gctrace lines, and nothing else, in a gateway log.
func TestGCCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.log")
	log := "gc 1 @0.011s 3%: 0.1+1.2+0.01 ms clock\n{\"level\":\"info\",\"msg\":\"gc 2 @ in a message\"}\ngc 2 @0.521s 1%: 0.2\ngc nothing\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := gcCount(path); err != nil || n != 2 {
		t.Fatalf("gcCount = %d, %v; want 2", n, err)
	}
	if _, err := gcCount(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("gcCount of a missing log gave no error")
	}
}

// TestThousands checks the digit grouping of the table.
func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 284451: "284,451", 1234567: "1,234,567", -4000: "-4,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
