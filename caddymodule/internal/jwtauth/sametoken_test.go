package jwtauth

import (
	"crypto/subtle"
	"strings"
	"testing"
)

// TestSameTokenMatchesConstantTimeCompare: the word-at-a-time comparison
// answers as subtle.ConstantTimeCompare does, for every length around
// the word size and a difference at every position.
func TestSameTokenMatchesConstantTimeCompare(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("x", n)
		if !sameToken(a, strings.Clone(a)) {
			t.Fatalf("length %d: equal tokens differ", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] ^= 0x80
			want := subtle.ConstantTimeCompare([]byte(a), b) == 1
			if got := sameToken(a, string(b)); got != want {
				t.Fatalf("length %d, difference at %d: %v, want %v", n, i, got, want)
			}
		}
		if sameToken(a, a+"y") || sameToken(a+"y", a) {
			t.Fatalf("length %d: tokens of different lengths match", n)
		}
	}
}
