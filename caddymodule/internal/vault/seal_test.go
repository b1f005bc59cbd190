package vault

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	keyA = []byte("vault-test-key-A-0123456789abcdefghij")
	keyB = []byte("vault-test-key-B-0123456789abcdefghij")
)

func TestSealer(t *testing.T) {
	t.Parallel()
	a, err := newSealer([][]byte{keyA})
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte(`{"at":"secret-access-token"}`)
	sealed := a.seal(pt, "pcl:{v:alice:github}")
	for _, c := range []struct {
		name   string
		sealed []byte
		aad    string
		ok     bool
	}{
		{"round trip", sealed, "pcl:{v:alice:github}", true},
		{"another user's key (swap)", sealed, "pcl:{v:mallory:github}", false},
		{"another provider's key (swap)", sealed, "pcl:{v:alice:notion}", false},
		{"flipped ciphertext bit", flip(sealed, len(sealed)-20), "pcl:{v:alice:github}", false},
		{"flipped tag bit", flip(sealed, len(sealed)-1), "pcl:{v:alice:github}", false},
		{"flipped nonce bit", flip(sealed, 6), "pcl:{v:alice:github}", false},
		{"unknown key id", flip(sealed, 2), "pcl:{v:alice:github}", false},
		{"wrong version", flip(sealed, 0), "pcl:{v:alice:github}", false},
		{"truncated", sealed[:1+4+12+16-1], "pcl:{v:alice:github}", false},
		{"empty", nil, "pcl:{v:alice:github}", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.open(c.sealed, c.aad)
			if c.ok {
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("open = %q, %v", got, err)
				}
				return
			}
			if !errors.Is(err, errSealed) || got != nil {
				t.Fatalf("open accepted it: %q, %v", got, err)
			}
		})
	}
	if bytes.Contains(sealed, []byte("secret-access-token")) {
		t.Fatal("the sealed record holds the plaintext")
	}
	if bytes.Equal(a.seal(pt, "k"), a.seal(pt, "k")) {
		t.Fatal("two seals of one plaintext are equal: nonce reused")
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 1
	return out
}

// TestSealerRotation: the first key seals, every configured key opens;
// a record sealed under a key no longer configured does not open.
func TestSealerRotation(t *testing.T) {
	t.Parallel()
	old, _ := newSealer([][]byte{keyA})
	rotated, _ := newSealer([][]byte{keyB, keyA})
	onlyNew, _ := newSealer([][]byte{keyB})
	sealedOld := old.seal([]byte("x"), "k")
	if got, err := rotated.open(sealedOld, "k"); err != nil || string(got) != "x" {
		t.Fatalf("rotated keys do not open a record of the old key: %v", err)
	}
	sealedNew := rotated.seal([]byte("y"), "k")
	if _, err := old.open(sealedNew, "k"); err == nil {
		t.Fatal("a record of the new first key opened with the old key alone: the first key did not seal")
	}
	if got, err := onlyNew.open(sealedNew, "k"); err != nil || string(got) != "y" {
		t.Fatalf("the new key does not open its record: %v", err)
	}
	if _, err := onlyNew.open(sealedOld, "k"); err == nil {
		t.Fatal("a record of a retired key still opens")
	}
}

func TestSealerKeys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		keys [][]byte
		want string
	}{
		{"none", nil, "no keys"},
		{"short", [][]byte{keyA, []byte("short")}, "key 2 is 5 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newSealer(c.keys)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("newSealer error = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), string(keyA)) {
				t.Fatal("the error shows key material")
			}
		})
	}
}
