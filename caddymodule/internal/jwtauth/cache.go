package jwtauth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ctequal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// maxCacheShards bounds the shard count; small caches use fewer shards so
// each keeps a useful number of slots.
const (
	maxCacheShards = 64
	minShardSlots  = 64
)

// cachedToken is the outcome of one successful verification.
type cachedToken struct {
	p     principal.Principal
	is    *issuer
	epoch uint64 // is.keys epoch when verification started
}

// tokenCache remembers verified tokens by a keyed hash of the token, up to
// a fixed number of entries, never past the token's `exp`. It is sharded
// (a shard per leading hash bits) and each shard is a CLOCK ring: a hit
// takes a read lock and sets a reference bit; an insert into a full shard
// sweeps the ring, dropping the first entry that is expired or was not
// referenced since the last sweep. New entries start unreferenced, so a
// flood of single-use tokens evicts itself before it evicts tokens that
// are being reused. Memory is bounded by the slot count whatever the
// traffic.
type tokenCache struct {
	shards []cacheShard
	seed   maphash.Seed
}

type cacheShard struct {
	mu    sync.RWMutex
	index map[uint64]int32
	slots []cacheSlot
	limit int
	hand  int
	_     [40]byte // keep hot shards on separate cache lines
}

type cacheSlot struct {
	key   uint64
	token string // the whole token: a hit must equal it
	exp   int64  // token exp, Unix nanoseconds
	ref   atomic.Bool
	val   *cachedToken
}

// key is the cache key of a token: a keyed hash (maphash, with a random
// per-cache seed) of the whole token. It only places the token; what
// binds an entry to its token is that a hit compares the whole token
// with the one that was verified (ctequal.Strings), so a collision, chosen or
// not, can never serve a forged token as a cached valid one. This
// replaced a SHA-256 of the token, a quarter of a cache hit's
// instructions; the price is holding the verified tokens themselves
// (bounded by the slot count), which the process reads anyway.
func (c *tokenCache) key(token string) uint64 {
	return maphash.String(c.seed, token)
}

// newTokenCache returns a cache of exactly size entries (size > 0).
func newTokenCache(size int) *tokenCache {
	n := 1
	for n < maxCacheShards && size/(n*2) >= minShardSlots {
		n *= 2
	}
	c := &tokenCache{shards: make([]cacheShard, n), seed: maphash.MakeSeed()}
	for i := range c.shards {
		limit := size / n
		if i < size%n {
			limit++
		}
		c.shards[i] = cacheShard{index: make(map[uint64]int32, limit), slots: make([]cacheSlot, 0, limit), limit: limit}
	}
	return c
}

func (c *tokenCache) shard(key uint64) *cacheShard {
	return &c.shards[key&uint64(len(c.shards)-1)]
}

// get returns the entry for token (whose key is key) if it has not
// expired at now (Unix nanoseconds).
func (c *tokenCache) get(key uint64, token string, now int64) *cachedToken {
	sh := c.shard(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	i, ok := sh.index[key]
	if !ok {
		return nil
	}
	s := &sh.slots[i]
	if now >= s.exp || !ctequal.Strings(token, s.token) {
		return nil
	}
	if !s.ref.Load() {
		s.ref.Store(true)
	}
	return s.val
}

// put stores val for token (whose key is key) until exp (Unix
// nanoseconds), evicting as needed; now is the current time, to prefer
// expired victims. A token whose key is another cached token's replaces
// it.
func (c *tokenCache) put(key uint64, token string, val *cachedToken, exp, now int64) {
	if exp <= now {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.index[key]; ok {
		s := &sh.slots[i]
		s.token, s.val, s.exp = token, val, exp
		return
	}
	var i int
	if len(sh.slots) < sh.limit {
		sh.slots = append(sh.slots, cacheSlot{})
		i = len(sh.slots) - 1
	} else {
		i = sh.victim(now)
		delete(sh.index, sh.slots[i].key)
	}
	s := &sh.slots[i]
	s.key, s.token, s.exp, s.val = key, token, exp, val
	s.ref.Store(false)
	sh.index[key] = int32(i)
}

// victim advances the clock hand to the first slot that is expired or
// unreferenced, clearing reference bits on the way. It stops within two
// turns of the ring: the first turn clears every bit.
func (sh *cacheShard) victim(now int64) int {
	for {
		i := sh.hand
		sh.hand++
		if sh.hand == len(sh.slots) {
			sh.hand = 0
		}
		s := &sh.slots[i]
		if s.exp <= now || !s.ref.Load() {
			return i
		}
		s.ref.Store(false)
	}
}

// len returns the number of entries, expired ones included.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.index)
		sh.mu.RUnlock()
	}
	return n
}
