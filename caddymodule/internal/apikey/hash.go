package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
)

// Hash algorithms, written before the digest in a stored hash
// ("sha256:<base64url>").
const (
	// AlgSHA256 is a plain SHA-256 of the full key, used when no pepper
	// is configured. Keys carry about 190 bits of entropy, so a plain
	// hash cannot be brute-forced.
	AlgSHA256 = "sha256"
	// AlgHMACSHA256 is HMAC-SHA256 of the full key keyed by the server
	// pepper, so a leaked store alone does not even allow offline checks.
	AlgHMACSHA256 = "hmac-sha256"
)

// Hasher computes and compares stored key hashes. The zero value hashes
// with AlgSHA256.
type Hasher struct {
	pepper []byte
	// macs holds keyed HMAC states for reuse (Reset is far cheaper than
	// keying a new one); nil without a pepper.
	macs *sync.Pool
}

// NewHasher returns a Hasher; a non-empty pepper selects AlgHMACSHA256.
func NewHasher(pepper []byte) Hasher {
	h := Hasher{pepper: append([]byte(nil), pepper...)}
	if len(h.pepper) > 0 {
		h.macs = &sync.Pool{New: func() any { return hmac.New(sha256.New, h.pepper) }}
	}
	return h
}

// Alg returns the algorithm this hasher produces.
func (h Hasher) Alg() string {
	if len(h.pepper) > 0 {
		return AlgHMACSHA256
	}
	return AlgSHA256
}

// Hash returns the stored form of key: "<alg>:<base64url digest>".
func (h Hasher) Hash(key string) string {
	d := h.digest(key)
	return h.Alg() + ":" + base64.RawURLEncoding.EncodeToString(d[:])
}

func (h Hasher) digest(key string) [sha256.Size]byte {
	if len(h.pepper) == 0 {
		return sha256.Sum256([]byte(key))
	}
	var m hash.Hash
	if h.macs != nil {
		m = h.macs.Get().(hash.Hash)
		defer h.macs.Put(m)
		m.Reset()
	} else {
		m = hmac.New(sha256.New, h.pepper)
	}
	io.WriteString(m, key)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Digest is a decoded stored hash.
type Digest struct {
	alg string
	sum [sha256.Size]byte
}

// ParseDigest decodes a stored hash and checks it was made by an
// algorithm this hasher uses (a hash made without the pepper cannot
// match a peppered hasher, and the config should say so early).
func (h Hasher) ParseDigest(stored string) (Digest, error) {
	alg, enc, ok := strings.Cut(stored, ":")
	if !ok {
		return Digest{}, fmt.Errorf("apikey: hash must look like %q, got no algorithm", h.Alg()+":<digest>")
	}
	if alg != AlgSHA256 && alg != AlgHMACSHA256 {
		return Digest{}, fmt.Errorf("apikey: unknown hash algorithm %q (want %s or %s)", alg, AlgSHA256, AlgHMACSHA256)
	}
	if alg != h.Alg() {
		return Digest{}, fmt.Errorf("apikey: hash uses %s but the configuration expects %s (pepper set: %v); rehash the key with `portcullis apikey hash`", alg, h.Alg(), len(h.pepper) > 0)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(raw) != sha256.Size {
		return Digest{}, fmt.Errorf("apikey: hash digest must be %d bytes of unpadded base64url", sha256.Size)
	}
	d := Digest{alg: alg}
	copy(d.sum[:], raw)
	return d, nil
}

// Matches reports in constant time whether key hashes to d.
func (h Hasher) Matches(d Digest, key string) bool {
	got := h.digest(key)
	return subtle.ConstantTimeCompare(got[:], d.sum[:]) == 1
}
