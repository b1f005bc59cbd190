package apikey

import (
	"context"
	"sync"
	"time"
)

// lookup is what the cache knows about one id: the record and its
// decoded digest, or that the store has no such id.
type lookup struct {
	found   bool
	rec     Record
	digest  Digest
	bad     error // the record exists but cannot be used (bad hash, bad JSON)
	fetched time.Time
}

// flight is one store read in progress; concurrent lookups of the same id
// wait for it instead of reading too.
type flight struct {
	done chan struct{}
	res  *lookup
	err  error
}

// recordCache caches store lookups by id for a short TTL, and merges
// concurrent misses of one id into one store read. Records found and ids
// not found are bounded separately, so a flood of made-up ids cannot
// evict the records of real keys.
type recordCache struct {
	ttl, negTTL time.Duration
	now         func() time.Time
	fetch       func(ctx context.Context, id string) (*lookup, error)

	mu       sync.RWMutex
	found    *boundedMap[*lookup]
	missing  *boundedMap[*lookup]
	inflight map[string]*flight
	gen      uint64 // bumped by forget, so a read begun before it is not cached
}

func newRecordCache(size int, ttl, negTTL time.Duration, now func() time.Time,
	fetch func(ctx context.Context, id string) (*lookup, error)) *recordCache {
	return &recordCache{
		ttl: ttl, negTTL: negTTL, now: now, fetch: fetch,
		found: newBoundedMap[*lookup](size, nil), missing: newBoundedMap[*lookup](size, nil),
		inflight: make(map[string]*flight),
	}
}

// fresh reports whether l may still be used at now.
func (c *recordCache) fresh(l *lookup, now time.Time) bool {
	ttl := c.ttl
	if !l.found {
		ttl = c.negTTL
	}
	return now.Sub(l.fetched) < ttl
}

// get returns the lookup of id, from the cache when fresh, otherwise
// from the store (one read, shared with concurrent callers).
func (c *recordCache) get(ctx context.Context, id string) (*lookup, error) {
	now := c.now()
	c.mu.RLock()
	l, ok := c.cached(id)
	c.mu.RUnlock()
	if ok && c.fresh(l, now) {
		return l, nil
	}

	c.mu.Lock()
	if l, ok := c.cached(id); ok && c.fresh(l, now) {
		c.mu.Unlock()
		return l, nil
	}
	if f, ok := c.inflight[id]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.res, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.inflight[id] = f
	gen := c.gen
	c.mu.Unlock()

	f.res, f.err = c.fetch(ctx, id)
	if f.res != nil {
		f.res.fetched = now
	}

	c.mu.Lock()
	delete(c.inflight, id)
	if f.err == nil && gen == c.gen {
		if f.res.found {
			c.missing.delete(id)
			c.found.put(id, f.res)
		} else {
			c.found.delete(id)
			c.missing.put(id, f.res)
		}
	}
	c.mu.Unlock()
	close(f.done)
	return f.res, f.err
}

// forget drops what the cache knows about id, after this instance
// changed the record.
func (c *recordCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.found.delete(id)
	c.missing.delete(id)
	c.gen++
}

// cached returns the entry of id, found or not. c.mu must be held.
func (c *recordCache) cached(id string) (*lookup, bool) {
	if l, ok := c.found.get(id); ok {
		return l, true
	}
	return c.missing.get(id)
}

// len returns the number of records and of unknown ids cached.
func (c *recordCache) len() (found, missing int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.found.len(), c.missing.len()
}
