package apikey

import (
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// review3OldParse is Parse as it was before the allocation-free scan
// (82c9054), the reference the new one must agree with.
func review3OldParse(prefix, s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != IDLength+1+SecretLength+ChecksumLength || rest[IDLength] != '_' {
		return Key{}, ErrMalformed
	}
	k := Key{Prefix: prefix, ID: rest[:IDLength], Secret: rest[IDLength+1 : IDLength+1+SecretLength]}
	sum := rest[IDLength+1+SecretLength:]
	if !strings.ContainsFunc(k.ID+k.Secret, func(r rune) bool { return !strings.ContainsRune(alphabet, r) }) {
		n := crc32.ChecksumIEEE([]byte(s[:len(s)-ChecksumLength]))
		var want [ChecksumLength]byte
		for i := ChecksumLength - 1; i >= 0; i-- {
			want[i] = alphabet[n%62]
			n /= 62
		}
		if sum == string(want[:]) {
			return k, nil
		}
	}
	return Key{}, ErrMalformed
}

// TestReview3IsBase62Exhaustive: the word-at-a-time check agrees with the
// alphabet for every byte value at every position of strings of every
// length up to 20 (short, exact-word and overlapping-tail cases).
func TestReview3IsBase62Exhaustive(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 20; n++ {
		for pos := range n {
			for b := range 256 {
				s := []byte(strings.Repeat("a", n))
				s[pos] = byte(b)
				want := strings.IndexByte(alphabet, byte(b)) >= 0
				if got := isBase62(string(s)); got != want {
					t.Fatalf("isBase62(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	// Pairs of adjacent high bytes (carries between lanes).
	for b := 0x80; b < 256; b++ {
		for c := range 256 {
			s := "aaaaaa" + string([]byte{byte(b), byte(c)})
			if isBase62(s) {
				t.Fatalf("isBase62(%q) = true", s)
			}
		}
	}
}

// TestReview3CRCMatchesHashCRC32: the slicing-by-8 CRC is crc32's.
func TestReview3CRCMatchesHashCRC32(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		if got, want := ^crcUpdate(^uint32(0), string(b)), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("crc(%x) = %08x, want %08x", b, got, want)
		}
	}
}

// TestReview3ParseMatchesOldParse: on valid keys and on every
// single-byte mutation, deletion and insertion of them (and with other
// prefixes), the new Parse answers as the old one.
func TestReview3ParseMatchesOldParse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(prefix, s string) {
		t.Helper()
		gk, gerr := Parse(prefix, s)
		wk, werr := review3OldParse(prefix, s)
		if gk != wk || (gerr == nil) != (werr == nil) {
			t.Fatalf("Parse(%q, %q) = %+v, %v; old Parse = %+v, %v", prefix, s, gk, gerr, wk, werr)
		}
	}
	for _, prefix := range []string{"pcl", "p", "pcl_x", ""} {
		for range 20 {
			k, err := Generate(prefix)
			if err != nil {
				continue // a prefix Generate refuses: still check Parse below
			}
			s := k.String()
			check(prefix, s)
			check(prefix+"x", s)
			check(strings.TrimSuffix(prefix, "l"), s)
			for i := range len(s) {
				b := []byte(s)
				b[i] = byte(rng.UintN(256))
				check(prefix, string(b))
				check(prefix, s[:i]+s[i+1:])
				check(prefix, s[:i]+string(alphabet[rng.IntN(62)])+s[i:])
			}
		}
	}
}

// TestReview3VerifiedCacheNoNearMiss: once a stored key is cached, every
// key differing from it in one byte, or by length, is refused (another
// hash under the id, revocation, rotation, expiry and deletion are
// covered by TestVerifiedKeyCacheStored).
func TestReview3VerifiedCacheNoNearMiss(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	prefix := uniquePrefix(t)
	h := NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))
	r := newTestRegistry(t, RegistryOptions{Store: mem, StorePrefix: prefix, Hasher: h, Now: clock.Now})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	good := k.String()
	if _, err := r.Verify(c, good); err != nil {
		t.Fatal(err)
	}
	for i := range len(good) {
		for _, ch := range []byte{'0', 'a', 'Z', 'z', good[i] ^ 1} {
			if ch == good[i] {
				continue
			}
			b := []byte(good)
			b[i] = ch
			if rec, err := r.Verify(c, string(b)); err == nil {
				t.Fatalf("key with byte %d changed accepted: %+v", i, rec)
			}
		}
	}
	for _, v := range []string{good + " ", " " + good, good[:len(good)-1], good + "0"} {
		if _, err := r.Verify(c, v); err == nil {
			t.Fatalf("variant %q of a cached key accepted", v)
		}
	}
	if _, err := r.Verify(c, good); err != nil {
		t.Fatalf("the cached key itself: %v", err)
	}
	if r.verified.len() != 1 {
		t.Fatalf("verified cache holds %d keys, want 1", r.verified.len())
	}
}
