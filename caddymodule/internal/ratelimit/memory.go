package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// memShards is the number of independently locked parts of a Memory.
const memShards = 64

// minSweep is the shard size below which a Memory never sweeps.
const minSweep = 64

// MemoryOptions configures NewMemory. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Observer receives refusals (OnRefused); its Redis callbacks are
	// never called.
	Observer Observer
}

// Memory is a Limiter for a single process: buckets live in a sharded map
// in this process's memory, so every replica has its own.
//
// State is O(1) per key (one TAT) and expires: a key whose bucket is full
// again needs no state, and a shard drops such entries whenever it has
// doubled in size since its last sweep (and holds at least 64 entries),
// so memory stays within twice the number of keys used within one Window,
// plus 4096 (no goroutine). A request for several
// zones is decided atomically: if one zone refuses, no zone is charged.
type Memory struct {
	now    func() time.Time
	obs    Observer
	seed   maphash.Seed
	shards [memShards]memShard
}

// memShard is one lock's worth of buckets.
type memShard struct {
	mu      sync.Mutex
	tats    map[memBucket]int64 // TAT in Unix nanoseconds
	sweepAt int                 // sweep when len(tats) reaches this
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory limiter.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now, obs: opts.Observer, seed: maphash.MakeSeed()}
	if m.now == nil {
		m.now = time.Now
	}
	for i := range m.shards {
		m.shards[i].tats = make(map[memBucket]int64)
		m.shards[i].sweepAt = minSweep
	}
	return m
}

// Allow implements Limiter. It never returns an error for valid requests
// and does not look at ctx (it does no I/O).
func (m *Memory) Allow(_ context.Context, reqs []Request) ([]Result, error) {
	if err := checkRequests(reqs); err != nil {
		return nil, err
	}
	out := make([]Result, len(reqs))
	if len(reqs) == 0 {
		return out, nil
	}
	var slotBuf [4]memSlot // requests rarely name more zones: no allocation
	var lockBuf [4]int
	slots, locked := slotBuf[:0], lockBuf[:0]
	for i := range reqs {
		b := memBucket{zone: reqs[i].Zone.Name, key: reqs[i].Key}
		shard := int(maphash.Comparable(m.seed, b) % memShards)
		slots = append(slots, memSlot{bucket: b, shard: shard})
		locked = append(locked, shard)
	}
	slices.Sort(locked) // one lock order for every caller: no deadlock
	locked = slices.Compact(locked)
	for _, s := range locked {
		m.shards[s].mu.Lock()
	}
	defer func() {
		for _, s := range locked {
			m.shards[s].mu.Unlock()
		}
	}()

	now := m.now().UnixNano()
	all := true
	for i := range reqs {
		r, sl := &reqs[i], &slots[i]
		q := r.quota()
		tat := m.shards[sl.shard].tats[sl.bucket]
		for j := range i { // a zone and key twice in one request
			if slots[j].bucket == sl.bucket && out[j].Allowed {
				tat = slots[j].tat
			}
		}
		c := gcra(tat, now, int64(q.Rate.Interval()), int64(q.Capacity()), int64(r.cost()))
		sl.tat = c.tat
		out[i] = c.result(r, q, time.Nanosecond)
		all = all && c.allowed
	}
	if all {
		for i := range slots {
			m.shards[slots[i].shard].store(slots[i].bucket, slots[i].tat, now)
		}
	} else {
		m.uncharge(reqs, slots, now, out)
	}
	m.obs.refused(out)
	return out, nil
}

// memBucket identifies a bucket: zone name and key.
type memBucket struct{ zone, key string }

// memSlot is one request's bucket during Allow.
type memSlot struct {
	bucket memBucket
	shard  int
	tat    int64 // the TAT the request leads to
}

// uncharge rewrites the admitting results of a refused request as what
// their buckets hold without it, since nothing was consumed.
func (m *Memory) uncharge(reqs []Request, slots []memSlot, now int64, out []Result) {
	for i := range reqs {
		if !out[i].Allowed {
			continue
		}
		q := reqs[i].quota()
		c := gcra(m.shards[slots[i].shard].tats[slots[i].bucket], now, int64(q.Rate.Interval()), int64(q.Capacity()), 0)
		out[i].Remaining = int(c.remaining)
		out[i].ResetAfter = time.Duration(c.resetAfter)
	}
}

// store saves a TAT (always in the future) and sweeps when due.
func (s *memShard) store(key memBucket, tat, now int64) {
	if _, ok := s.tats[key]; !ok && len(s.tats) >= s.sweepAt {
		for k, t := range s.tats {
			if t <= now {
				delete(s.tats, k)
			}
		}
		s.sweepAt = max(2*len(s.tats), minSweep)
	}
	s.tats[key] = tat
}

// Len returns the number of keys that hold state (including expired ones
// not swept yet).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}
