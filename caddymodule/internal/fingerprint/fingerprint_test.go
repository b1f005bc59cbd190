package fingerprint

import "testing"

func TestFingerprintIsUnambiguous(t *testing.T) {
	t.Parallel()
	sum := func(parts ...string) string {
		f := New("test/v1")
		f.Strs(parts)
		return f.Sum()
	}
	if sum("ab", "c") == sum("a", "bc") || sum("a") == sum("a", "") {
		t.Fatal("different lists give the same fingerprint")
	}
	if sum("x") != sum("x") {
		t.Fatal("equal input, different fingerprints")
	}
	a, b := New("a/v1"), New("b/v1")
	if a.Sum() == b.Sum() {
		t.Fatal("kinds collide")
	}
}
