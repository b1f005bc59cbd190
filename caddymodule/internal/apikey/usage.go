package apikey

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxPendingUses bounds the last-used times held between flushes. Only
// keys that verified are noted, so this is reached only with more live
// keys in use per interval than that; further keys wait for the next
// interval.
const maxPendingUses = 100000

// usage batches last-used times in memory between flushes, so a request
// never writes to the store.
type usage struct {
	mu      sync.Mutex
	pending map[string]time.Time
}

func newUsage() *usage { return &usage{pending: make(map[string]time.Time)} }

// note records that key id was used at t.
func (u *usage) note(id string, t time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	prev, ok := u.pending[id]
	switch {
	case !ok && len(u.pending) >= maxPendingUses:
	case !ok || t.After(prev):
		u.pending[id] = t
	}
}

// take returns the pending times and starts a new batch.
func (u *usage) take() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.pending
	u.pending = make(map[string]time.Time, len(out))
	return out
}

// Pending returns the number of keys whose last-used time awaits a flush.
func (r *Registry) Pending() int {
	r.usage.mu.Lock()
	defer r.usage.mu.Unlock()
	return len(r.usage.pending)
}

// Flush writes the batched last-used times now: one locked
// read-modify-write per key used since the last flush, which only ever
// moves the time forward and renews the record's TTL (so keys in use
// never expire from the store). Times that could not be written are kept
// for the next flush. The flush loop calls it every FlushInterval;
// Close calls it once more.
func (r *Registry) Flush(ctx context.Context) error {
	if r.st == nil {
		r.usage.take()
		return nil
	}
	batch := r.usage.take()
	var (
		failed  int
		first   error
		longest time.Duration
	)
	for id, t := range batch {
		s, err := r.update(ctx, id, func(s *storedRecord) error {
			if !t.After(s.LastUsed) {
				return errNoChange
			}
			s.LastUsed = t
			return nil
		})
		switch {
		case err == nil:
			longest = max(longest, s.ttl(r.now(), r.retention, r.idle))
		case errors.Is(err, errNoChange), errors.Is(err, ErrUnknown):
		default:
			failed++
			if first == nil {
				first = err
			}
			r.usage.note(id, t)
		}
	}
	if first != nil {
		return fmt.Errorf("apikey: flushing last-used times (%d of %d keys failed): %w", failed, len(batch), first)
	}
	if longest > 0 {
		// The index must outlive every record: keys in use renew it too.
		if err := r.idx.add(ctx, longest); err != nil {
			return fmt.Errorf("apikey: flushing last-used times: %w", err)
		}
	}
	return nil
}

// flushLoop flushes every interval until Close.
func (r *Registry) flushLoop(interval time.Duration) {
	defer close(r.loopDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			if err := r.Flush(ctx); err != nil && r.onFlushError != nil {
				r.onFlushError(err) // failed times stay pending for the next round
			}
			cancel()
		}
	}
}
