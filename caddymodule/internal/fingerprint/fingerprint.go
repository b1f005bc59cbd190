// Package fingerprint identifies configurations within one process: an
// unambiguous encoding of values (each length-prefixed or fixed-size) fed
// into an HMAC keyed with a random per-process key. Fingerprints are
// stable for the life of the process (what sharing clients and caches
// across Caddy config reloads needs), but a secret that enters one cannot
// be brute-forced offline from it, nor compared across processes.
package fingerprint

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// key keys the HMAC; random per process.
var key = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // never fails (crypto/rand panics instead)
	return k
}()

// Hasher accumulates values; Sum returns the fingerprint.
type Hasher struct{ h hash.Hash }

// New starts a fingerprint of the given kind (a name and version, so two
// kinds never collide, e.g. "redis/v1").
func New(kind string) *Hasher {
	f := &Hasher{h: hmac.New(sha256.New, key)}
	f.Str(kind)
	return f
}

// Int adds an integer.
func (f *Hasher) Int(v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	f.h.Write(b[:])
}

// Bytes adds a length-prefixed byte string.
func (f *Hasher) Bytes(b []byte) {
	f.Int(int64(len(b)))
	f.h.Write(b)
}

// Str adds a string.
func (f *Hasher) Str(s string) { f.Bytes([]byte(s)) }

// Dur adds a duration.
func (f *Hasher) Dur(d time.Duration) { f.Int(int64(d)) }

// Bool adds a boolean.
func (f *Hasher) Bool(b bool) {
	if b {
		f.Int(1)
	} else {
		f.Int(0)
	}
}

// Strs adds a counted list of strings (order matters).
func (f *Hasher) Strs(vs []string) {
	f.Int(int64(len(vs)))
	for _, v := range vs {
		f.Str(v)
	}
}

// Sum returns the fingerprint as hex.
func (f *Hasher) Sum() string { return hex.EncodeToString(f.h.Sum(nil)) }
