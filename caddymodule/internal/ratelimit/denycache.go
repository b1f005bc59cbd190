package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// denyShards is the number of independently locked parts of a denyCache.
const denyShards = 16

// denyCache remembers the buckets Redis refused, so that a client
// hammering past its limit is refused locally instead of costing a Redis
// round trip per request.
//
// For each bucket it keeps a lower bound of the bucket's TAT in local time
// (the refusal's ResetAfter added to the local time the request was sent)
// and decides with GCRA whether a request must be refused. That verdict is
// exact: refused events do not change a bucket and other replicas can only
// push its TAT later, so Redis would refuse too (a refund by another
// replica excepted, which makes the cache stricter than Redis by that
// event until it expires). Anything the cache would admit goes to Redis,
// so requests of another cost or quota are decided correctly.
//
// Entries expire once a cost-1 request would pass; the size is bounded: a
// full shard drops expired entries, then, if still full, an arbitrary one.
type denyCache struct {
	now    func() time.Time
	seed   maphash.Seed
	max    int // entries per shard
	shards [denyShards]denyShard
}

// denyShard is one lock's worth of entries.
type denyShard struct {
	mu      sync.Mutex
	entries map[string]denyEntry
}

// denyEntry is one refused bucket, in local Unix nanoseconds.
type denyEntry struct {
	tat     int64 // lower bound of the bucket's TAT
	expires int64 // when a cost-1 request passes: TAT - Burst×Interval
}

// newDenyCache returns a cache of about size entries, or nil (disabled)
// when size <= 0.
func newDenyCache(size int, now func() time.Time) *denyCache {
	if size <= 0 {
		return nil
	}
	c := &denyCache{now: now, seed: maphash.MakeSeed(), max: max(size/denyShards, 1)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]denyEntry)
	}
	return c
}

func (c *denyCache) shard(key string) *denyShard {
	return &c.shards[maphash.String(c.seed, key)%denyShards]
}

// check returns the refusal of req for the bucket key, if the cache knows
// that Redis would refuse it.
func (c *denyCache) check(key string, req *Request) (Result, bool) {
	if c == nil {
		return Result{}, false
	}
	s := c.shard(key)
	now := c.now().UnixNano()
	s.mu.Lock()
	e, ok := s.entries[key]
	if ok && e.expires <= now {
		delete(s.entries, key)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return Result{}, false
	}
	q := req.quota()
	cell := gcra(e.tat, now, int64(q.Rate.Interval()), int64(q.Capacity()), int64(req.cost()))
	if cell.allowed {
		return Result{}, false
	}
	r := cell.result(req, q, time.Nanosecond)
	r.Source = SourceDenyCache
	return r, true
}

// refuse remembers the refusal r of req for the bucket key; sent is the
// local time the request was sent to Redis, which is no later than Redis
// decided.
func (c *denyCache) refuse(key string, req *Request, r *Result, sent time.Time) {
	if c == nil || r.Allowed || r.Source != SourceStore {
		return
	}
	tat := sent.UnixNano() + int64(r.ResetAfter)
	e := denyEntry{tat: tat, expires: tat - int64(r.Quota.Burst)*int64(r.Quota.Rate.Interval())}
	s := c.shard(key)
	now := c.now().UnixNano()
	if e.expires <= now {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[key]; !ok && len(s.entries) >= c.max {
		for k, old := range s.entries {
			if old.expires <= now {
				delete(s.entries, k)
			}
		}
		for k := range s.entries {
			if len(s.entries) < c.max {
				break
			}
			delete(s.entries, k)
		}
	}
	s.entries[key] = e
}

// forget drops key, whose bucket a refund made emptier than the cache
// knows.
func (c *denyCache) forget(key string) {
	if c == nil {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// len returns the number of entries, expired ones included.
func (c *denyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}
