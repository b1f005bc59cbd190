package ratelimit

import (
	"context"
	"fmt"
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
	mu sync.Mutex
	// tats holds each bucket's TAT in Unix nanoseconds, behind a pointer
	// so that a request for a bucket that exists looks it up once and
	// updates it in place.
	tats    map[memBucket]*int64
	sweepAt int // sweep when len(tats) reaches this
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory limiter.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now, obs: opts.Observer, seed: maphash.MakeSeed()}
	if m.now == nil {
		m.now = time.Now
	}
	for i := range m.shards {
		m.shards[i].tats = make(map[memBucket]*int64)
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
	m.decide(reqs, out)
	return out, nil
}

// AllowInto is Allow writing the results into out, which must have the
// length of reqs, rather than into a new slice: a caller that holds
// both in local arrays decides a request without allocating. It returns
// Allow's errors.
func (m *Memory) AllowInto(reqs []Request, out []Result) error {
	if len(out) != len(reqs) {
		return fmt.Errorf("ratelimit: %d results for %d requests", len(out), len(reqs))
	}
	if err := checkRequests(reqs); err != nil {
		return err
	}
	m.decide(reqs, out)
	return nil
}

// decide fills out with the verdicts on valid reqs and charges the
// buckets if every zone admits.
func (m *Memory) decide(reqs []Request, out []Result) {
	if len(reqs) == 0 {
		return
	}
	var slotBuf [4]memSlot // requests rarely name more zones: no allocation
	var lockBuf [4]int
	slots, locked := slotBuf[:0], lockBuf[:0]
	for i := range reqs {
		b := memBucket{zone: reqs[i].Zone.Name, key: reqs[i].Key}
		// The shard follows the key alone: cheaper to hash than zone and
		// key, and the zones of one key share a lock.
		shard := int(maphash.String(m.seed, b.key) % memShards)
		slots = append(slots, memSlot{bucket: b, shard: shard})
		locked = append(locked, shard)
	}
	if len(locked) > 1 {
		slices.Sort(locked) // one lock order for every caller: no deadlock
		locked = slices.Compact(locked)
	}
	m.decideLocked(reqs, out, slots, locked)
	m.obs.refused(out)
}

// decideLocked takes the shards' locks (locked, sorted), decides reqs
// into out and charges or uncharges their buckets (slots), and releases
// the locks however it returns.
func (m *Memory) decideLocked(reqs []Request, out []Result, slots []memSlot, locked []int) {
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
		if sl.stored = m.shards[sl.shard].tats[sl.bucket]; sl.stored != nil {
			sl.held = *sl.stored
		}
		tat := sl.held
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
		// Existing buckets first, in place: their new TATs are in the
		// future, so a sweep that an insertion then runs keeps them.
		for i := range slots {
			if slots[i].stored != nil {
				*slots[i].stored = slots[i].tat
			}
		}
		for i := range slots {
			if slots[i].stored == nil {
				m.shards[slots[i].shard].insert(slots[:i+1], now)
			}
		}
	} else {
		m.uncharge(reqs, slots, now, out)
	}
}

// memBucket identifies a bucket: zone name and key.
type memBucket struct{ zone, key string }

// memSlot is one request's bucket during Allow.
type memSlot struct {
	bucket memBucket
	shard  int
	stored *int64 // the bucket's TAT in its shard; nil if it has none
	held   int64  // *stored when the request began; 0 if none
	tat    int64  // the TAT the request leads to
}

// uncharge rewrites the admitting results of a refused request as what
// their buckets hold without it, since nothing was consumed.
func (m *Memory) uncharge(reqs []Request, slots []memSlot, now int64, out []Result) {
	for i := range reqs {
		if !out[i].Allowed {
			continue
		}
		q := reqs[i].quota()
		c := gcra(slots[i].held, now, int64(q.Rate.Interval()), int64(q.Capacity()), 0)
		out[i].Remaining = int(c.remaining)
		out[i].ResetAfter = time.Duration(c.resetAfter) * time.Nanosecond
	}
}

// insert saves the TAT of the last of slots, whose bucket had no state
// when the request began (the TAT is in the future), sweeping when due.
// The slots before it are the request's earlier ones: one of them may
// have added the same bucket already.
func (s *memShard) insert(slots []memSlot, now int64) {
	sl := &slots[len(slots)-1]
	for j := range len(slots) - 1 {
		if slots[j].bucket == sl.bucket {
			sl.stored = slots[j].stored
			*sl.stored = sl.tat
			return
		}
	}
	if len(s.tats) >= s.sweepAt {
		for k, t := range s.tats {
			if *t <= now {
				delete(s.tats, k)
			}
		}
		s.sweepAt = max(2*len(s.tats), minSweep)
	}
	sl.stored = new(int64)
	*sl.stored = sl.tat
	s.tats[sl.bucket] = sl.stored
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
