package apikey

import (
	"hash/crc32"
	"strings"
	"testing"
)

// parseReference is Parse as it was written before the single-scan
// version (prefix cut, alphabet checks, crc32.ChecksumIEEE), kept to
// check that both accept and split exactly the same strings.
func parseReference(prefix, s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != IDLength+1+SecretLength+ChecksumLength || rest[IDLength] != '_' {
		return Key{}, ErrMalformed
	}
	k := Key{Prefix: prefix, ID: rest[:IDLength], Secret: rest[IDLength+1 : IDLength+1+SecretLength]}
	sum := rest[IDLength+1+SecretLength:]
	if !isBase62(k.ID) || !isBase62(k.Secret) {
		return Key{}, ErrMalformed
	}
	n := crc32.ChecksumIEEE([]byte(s[:len(s)-ChecksumLength]))
	var want [ChecksumLength]byte
	for i := ChecksumLength - 1; i >= 0; i-- {
		want[i] = alphabet[n%62]
		n /= 62
	}
	if sum != string(want[:]) {
		return Key{}, ErrMalformed
	}
	return k, nil
}

// parseCandidates returns good keys and every single-byte change of one
// of them at each position (each byte value of a small set), plus
// truncations and extensions.
func parseCandidates(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	for range 4 {
		k, err := Generate(prefix)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.String())
	}
	good := out[0]
	for i := range len(good) {
		for _, c := range []byte{'_', '0', 'a', 'Z', 'z', '-', '{', 0, 0xff} {
			b := []byte(good)
			b[i] = c
			out = append(out, string(b))
		}
		out = append(out, good[:i], good+good[:i])
	}
	// Valid checksums on invalid bodies: the alphabet check alone refuses.
	for _, body := range []string{prefix + "_" + strings.Repeat("-", IDLength) + "_" + strings.Repeat("a", SecretLength),
		prefix + "_" + strings.Repeat("a", IDLength) + "_" + strings.Repeat("a", SecretLength-1) + "_",
		prefix + "_" + strings.Repeat("a", IDLength) + "a" + strings.Repeat("a", SecretLength)} {
		out = append(out, body+checksum(body))
	}
	return out
}

func TestParseMatchesReference(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"pcl", "ab", "longerprefix1234"} {
		for _, s := range parseCandidates(t, prefix) {
			for _, p := range []string{prefix, "pcl", "pc"} {
				got, err := Parse(p, s)
				want, wantErr := parseReference(p, s)
				if got != want || (err == nil) != (wantErr == nil) {
					t.Fatalf("Parse(%q, %q) = %+v, %v; reference %+v, %v", p, s, got, err, want, wantErr)
				}
			}
		}
	}
}

func TestChecksumIsCRC32IEEE(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "a", "pcl_0123456789ab_" + strings.Repeat("x", SecretLength), strings.Repeat("\xff", 100)} {
		n := crc32.ChecksumIEEE([]byte(body))
		want := checksumBytes(n)
		if got := checksum(body); got != string(want[:]) {
			t.Errorf("checksum(%q) = %q, want %q", body, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range parseCandidates(f, "pcl")[:40] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse("pcl", s)
		want, wantErr := parseReference("pcl", s)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("Parse(%q) = %+v, %v; reference %+v, %v", s, got, err, want, wantErr)
		}
	})
}

// TestIsBase62EveryByte checks isBase62 against the alphabet for every
// byte value at every position of strings of several lengths, next to
// bytes that carry in its word arithmetic.
func TestIsBase62EveryByte(t *testing.T) {
	t.Parallel()
	in := func(c byte) bool { return strings.IndexByte(alphabet, c) >= 0 }
	for _, n := range []int{1, 7, 8, 9, 12, 16, 32} {
		for _, fill := range []byte{'0', 'z', 'Z', '9'} {
			for pos := range n {
				for v := range 256 {
					b := []byte(strings.Repeat(string(fill), n))
					b[pos] = byte(v)
					if got := isBase62(string(b)); got != in(byte(v)) {
						t.Fatalf("isBase62(%q) = %v", b, got)
					}
				}
			}
		}
	}
	if !isBase62("") {
		t.Fatal(`isBase62("") = false`)
	}
	// Two bad bytes side by side, including ones whose lanes carry.
	for v := range 256 {
		for w := range 256 {
			b := []byte("0000" + string([]byte{byte(v), byte(w)}) + "0000")
			if got, want := isBase62(string(b)), in(byte(v)) && in(byte(w)); got != want {
				t.Fatalf("isBase62(%q) = %v", b, got)
			}
		}
	}
}
