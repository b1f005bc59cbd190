package apikey

import (
	"crypto/subtle"
	"hash/maphash"
	"sync/atomic"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ctequal"
)

// verifiedKey is a key that verified and what it verified against: the
// static set's entry, or the stored record's digest. It holds the whole
// key, so that a hit is the very key that was hashed, never one that
// merely shares its index.
type verifiedKey struct {
	key    string
	hash   uint64 // the cache index of key
	id     string
	static *entry // nil for a stored key
	digest Digest // a stored key's digest, which its record must still hold
}

// verifiedCache remembers keys that verified, so a key presented again
// skips Parse and the hash (SHA-256 or HMAC-SHA256, most of the cost of
// a verification). It only stands in for the hash: every hit still
// reads the key's record, as a miss would (the static set, or the record
// cache with its refresh policy), and counts only while that record's
// digest is still the one the key matched, so a revoked, rotated,
// expired, deleted or re-hashed key is refused exactly as without it.
//
// Entries are indexed by a keyed hash (maphash, random per-cache seed)
// of the whole key; a hit compares the whole presented key with the
// cached one in time that depends only on their lengths. A wrong key is
// never inserted, so it always misses and pays Parse and the hash (or
// the decoy's) as before: its timing does not depend on how much of it
// matches a valid key.
//
// The table is a fixed array of slots in pairs (two-way set
// associative): a lookup is two atomic loads, with no lock, so one key
// used from every core does not bounce a lock's cache line between
// them. A key whose pair is taken by two others replaces one of them.
// Keeping verified keys in memory, at most one per slot, is the price
// (as in the JWT verifier's token cache): the process reads each key
// anyway.
type verifiedCache struct {
	seed  maphash.Seed
	mask  uint64 // len(slots)-1
	slots []atomic.Pointer[verifiedKey]
}

// newVerifiedCache returns a cache of the next power of two of at least
// size (and 2) slots.
func newVerifiedCache(size int) *verifiedCache {
	n := 2
	for n < size {
		n <<= 1
	}
	return &verifiedCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), slots: make([]atomic.Pointer[verifiedKey], n)}
}

// index returns the cache index of key.
func (c *verifiedCache) index(key string) uint64 { return maphash.String(c.seed, key) }

// pair returns the two slots where the key of index h may be.
func (c *verifiedCache) pair(h uint64) []atomic.Pointer[verifiedKey] {
	i := h & c.mask &^ 1
	return c.slots[i : i+2 : i+2]
}

// get returns the entry of key (whose index is h), or nil.
func (c *verifiedCache) get(h uint64, key string) *verifiedKey {
	p := c.pair(h)
	for i := range p {
		if v := p[i].Load(); v != nil && v.hash == h && ctequal.Strings(key, v.key) {
			return v
		}
	}
	return nil
}

// put remembers v (whose key's index is h): in the slot of its pair
// that holds the same index or is empty, else in one chosen by h.
func (c *verifiedCache) put(h uint64, v *verifiedKey) {
	v.hash = h
	p := c.pair(h)
	for i := range p {
		if old := p[i].Load(); old == nil || old.hash == h {
			p[i].Store(v)
			return
		}
	}
	p[h>>63].Store(v)
}

// drop forgets the entry of key (whose index is h), if it is key's.
func (c *verifiedCache) drop(h uint64, key string) {
	p := c.pair(h)
	for i := range p {
		if v := p[i].Load(); v != nil && v.hash == h && ctequal.Strings(key, v.key) {
			p[i].CompareAndSwap(v, nil)
		}
	}
}

// len returns the number of entries.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// sameDigest reports in constant time whether two digests are equal.
func sameDigest(a, b *Digest) bool {
	return a.alg == b.alg && subtle.ConstantTimeCompare(a.sum[:], b.sum[:]) == 1
}
