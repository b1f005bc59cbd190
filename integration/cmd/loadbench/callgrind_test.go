package main

import (
	"strings"
	"testing"
)

// dumpFixture is a callgrind dump cut down to the lines parseDump reads.
const dumpFixture = `# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 21111
cmd:  portcullis run --config plain.Caddyfile --adapter caddyfile
part: 1

desc: Trigger: dump

positions: line
events: Ir
summary: 1138900123

ob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6
fn=(972) nanosleep
0 5

totals: 1138900120
`

// TestParseDump reads Ir from summary or totals, and only from complete dumps.
func TestParseDump(t *testing.T) {
	for _, tc := range []struct {
		name     string
		raw      string
		ir       int64
		complete bool
	}{
		{"summary wins", dumpFixture, 1138900123, true},
		{"totals without summary", strings.Replace(dumpFixture, "summary: 1138900123\n", "", 1), 1138900120, true},
		{"several events, first is Ir", strings.Replace(dumpFixture, "summary: 1138900123", "summary: 42 7 9", 1), 42, true},
		{"still being written", strings.TrimSuffix(dumpFixture, "totals: 1138900120\n"), 0, false},
		{"totals line unterminated", strings.TrimSuffix(dumpFixture, "\n"), 0, false},
		{"empty", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ir, complete, err := parseDump([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if ir != tc.ir || complete != tc.complete {
				t.Fatalf("parseDump = %d, %v; want %d, %v", ir, complete, tc.ir, tc.complete)
			}
		})
	}
	if _, _, err := parseDump([]byte("summary: lots\ntotals: 1\n")); err == nil {
		t.Fatal("parseDump accepted a summary that is not a number")
	}
}
