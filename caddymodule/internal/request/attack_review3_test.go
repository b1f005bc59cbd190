package request

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// TestReview3HeaderSetAgreesWithSameHeaderName: for random spellings of
// the set's names and of near misses (one byte changed, added or
// removed, inner space), short and longer than maxFoldedName, Has agrees
// with the per-name comparison it replaced (SameHeaderName after
// TrimSpace), and Strip removes exactly those names.
func TestReview3HeaderSetAgreesWithSameHeaderName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("X-Long-Name-", 12) + "End" // > maxFoldedName
	names := append([]string{"X-Auth-Subject", "X-Auth-Email", "X-Request-Id", long, "A"}, URLOverrideHeaders...)
	names = append(names, MethodOverrideHeaders...)
	set := HeaderSet{}.With(names...)
	ref := func(n string) bool {
		for _, m := range names {
			if SameHeaderName(strings.TrimSpace(n), m) {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(13, 14))
	spell := func(name string) string {
		b := []byte(name)
		for i, c := range b {
			if rng.IntN(2) == 0 {
				switch {
				case c >= 'a' && c <= 'z':
					b[i] = c - 32
				case c >= 'A' && c <= 'Z':
					b[i] = c + 32
				case c == '-':
					b[i] = '_'
				}
			}
		}
		switch rng.IntN(6) {
		case 0:
			b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
		case 1:
			b = b[:len(b)-1]
		case 2:
			i := rng.IntN(len(b))
			b = append(b[:i], append([]byte{" _-a\t"[rng.IntN(5)]}, b[i:]...)...)
		}
		pad := []string{"", " ", "\t", "\r\n", "\u00a0", "\v"}
		return pad[rng.IntN(len(pad))] + string(b) + pad[rng.IntN(len(pad))]
	}
	for range 200000 {
		n := spell(names[rng.IntN(len(names))])
		want := ref(n)
		if got := set.Has(n); got != want {
			t.Fatalf("Has(%q) = %v, SameHeaderName reading %v", n, got, want)
		}
		h := http.Header{n: {"v"}, "X-Keep": {"k"}}
		set.Strip(h)
		if _, kept := h[n]; kept == want || len(h["X-Keep"]) != 1 {
			t.Fatalf("Strip on %q: kept %v, want removed %v", n, kept, want)
		}
	}
}
