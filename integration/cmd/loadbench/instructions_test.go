package main

import (
	"strings"
	"testing"
)

// TestInstructionsTable checks the rendering, ratios to plain and the reference note.
func TestInstructionsTable(t *testing.T) {
	got := instructionsTable([]instructionCount{
		{name: "plain", instructions: 1_138_000_000, requests: 4000},
		{name: referenceScenario, instructions: 1_300_000_000, requests: 4000},
		{name: "apikey", instructions: 1_536_000_000, requests: 4000},
		{name: "deny", instructions: 569_000_000, requests: 2000},
	})
	want := "| configuration | instructions/req (gateway, user space) | × plain | requests measured |\n" +
		"|---|---:|---:|---:|\n" +
		"| plain | 284,500 | 1.00 | 4,000 |\n" +
		"| plain+identity | 325,000 | 1.14 | 4,000 |\n" +
		"| apikey | 384,000 | 1.35 | 4,000 |\n" +
		"| deny | 284,500 | 1.00 | 2,000 |\n" +
		"\n" + referenceNote
	if got != want {
		t.Fatalf("instructionsTable:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(referenceNote, "|") {
		t.Fatal("the reference note has a '|': redraw would read it as a row")
	}
	if got := instructionsTable([]instructionCount{{name: "apikey", instructions: 10, requests: 1}}); !strings.Contains(got, "| apikey | 10 | – | 1 |") || strings.Contains(got, referenceScenario) {
		t.Fatalf("table without plain or reference:\n%s", got)
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
