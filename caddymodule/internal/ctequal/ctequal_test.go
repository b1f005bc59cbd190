package ctequal

import (
	"crypto/subtle"
	"strings"
	"testing"
)

// TestStringsMatchesConstantTimeCompare: the same answer as
// subtle.ConstantTimeCompare for every length around the word and block
// sizes, with a difference at every position.
func TestStringsMatchesConstantTimeCompare(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 80; n++ {
		a := strings.Repeat("k", n)
		if !Strings(a, strings.Clone(a)) {
			t.Fatalf("length %d: equal strings differ", n)
		}
		for i := 0; i < n; i++ {
			for _, bit := range []byte{0x01, 0x80} {
				b := []byte(a)
				b[i] ^= bit
				want := subtle.ConstantTimeCompare([]byte(a), b) == 1
				if got := Strings(a, string(b)); got != want {
					t.Fatalf("length %d, bit %#x at %d: %v, want %v", n, bit, i, got, want)
				}
			}
		}
		if Strings(a, a+"k") || Strings(a+"k", a) {
			t.Fatalf("length %d: strings of different lengths are equal", n)
		}
	}
}

// BenchmarkStrings compares an 800-byte token with an equal copy.
func BenchmarkStrings(b *testing.B) {
	x := strings.Repeat("t", 800)
	y := strings.Clone(x)
	b.ReportAllocs()
	for b.Loop() {
		if !Strings(x, y) {
			b.Fatal("unequal")
		}
	}
}
