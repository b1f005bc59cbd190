package store

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultSweepInterval is how often a Memory store removes expired records
// when MemoryOptions.SweepInterval is zero.
const DefaultSweepInterval = time.Minute

// MemoryOptions configures a Memory store. The zero value is usable.
type MemoryOptions struct {
	// Now is the clock deciding expiry. Default: time.Now. Tests inject a
	// fake clock here; the sweep still runs on a real ticker but asks Now.
	Now func() time.Time

	// SweepInterval is how often expired records are removed in the
	// background (expired records are never returned in any case, they only
	// hold memory until swept or touched). Default (0): DefaultSweepInterval;
	// negative: no background sweep.
	SweepInterval time.Duration

	// MaxEntries bounds the number of records; 0 (default) means unbounded.
	// When a new key would exceed it, expired records are removed first and,
	// if the store is still full, the record that expires soonest is evicted
	// (so short-lived records such as login state go before long-lived
	// sessions, and writes never fail for lack of room). Negative is invalid.
	MaxEntries int
}

// Memory is a Store kept in process memory: a map guarded by one mutex plus
// a min-heap of expiry times, which finds the records to sweep or evict
// without scanning. Create it with NewMemory and Close it when done, which
// stops the sweep goroutine. State is lost on restart and is not shared
// between processes; use Redis for that.
type Memory struct {
	now func() time.Time
	max int

	mu        sync.Mutex
	items     map[string]*memEntry
	expiry    expiryHeap
	closed    bool
	stop      chan struct{} // closed by Close to end the sweeper
	swept     chan struct{} // closed when the sweeper has ended; nil without one
	closeOnce sync.Once
}

var _ Store = (*Memory)(nil)

// memEntry is one record.
type memEntry struct {
	key     string
	value   []byte
	expires time.Time
	index   int // position in the expiry heap
}

// NewMemory returns an empty Memory store and starts its sweeper. It fails
// only for invalid options (negative MaxEntries).
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if opts.MaxEntries < 0 {
		return nil, fmt.Errorf("store: memory: max entries must not be negative (got %d)", opts.MaxEntries)
	}
	m := &Memory{
		now:   opts.Now,
		max:   opts.MaxEntries,
		items: make(map[string]*memEntry),
		stop:  make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		m.swept = make(chan struct{})
		go m.sweepLoop(interval)
	}
	return m, nil
}

// sweepLoop removes expired records every interval until Close.
func (m *Memory) sweepLoop(interval time.Duration) {
	defer close(m.swept)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep removes every expired record.
func (m *Memory) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeExpired(m.now())
}

// removeExpired removes records expired at now. m.mu must be held.
func (m *Memory) removeExpired(now time.Time) {
	for len(m.expiry) > 0 && !now.Before(m.expiry[0].expires) {
		m.remove(m.expiry[0])
	}
}

// remove deletes e. m.mu must be held.
func (m *Memory) remove(e *memEntry) {
	heap.Remove(&m.expiry, e.index)
	delete(m.items, e.key)
}

// begin locks the store for one operation, returning the time the operation
// sees and an error if ctx is done or the store is closed. On error the lock
// is not held.
func (m *Memory) begin(ctx context.Context, op string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("store: memory %s: %w", op, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return time.Time{}, fmt.Errorf("store: memory %s: %w", op, ErrClosed)
	}
	return m.now(), nil
}

// live returns the unexpired record of key, removing it if expired. m.mu
// must be held.
func (m *Memory) live(key string, now time.Time) *memEntry {
	e, ok := m.items[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		m.remove(e)
		return nil
	}
	return e
}

// put stores a copy of value under key to expire at expires, evicting if
// the store is full. m.mu must be held.
func (m *Memory) put(key string, value []byte, now, expires time.Time) {
	v := append([]byte(nil), value...)
	if e, ok := m.items[key]; ok {
		e.value, e.expires = v, expires
		heap.Fix(&m.expiry, e.index)
		return
	}
	if m.max > 0 && len(m.items) >= m.max {
		m.removeExpired(now)
		for len(m.items) >= m.max {
			m.remove(m.expiry[0]) // the record that expires soonest
		}
	}
	e := &memEntry{key: key, value: v, expires: expires}
	m.items[key] = e
	heap.Push(&m.expiry, e)
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := m.GetShared(ctx, key)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), v...), nil
}

// GetShared implements SharedGetter: Get without the copy. A stored
// value is never changed in place (put stores a new copy), so the slice
// stays as it is for its holder; the caller must not modify it.
func (m *Memory) GetShared(ctx context.Context, key string) ([]byte, error) {
	now, err := m.begin(ctx, "get")
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e := m.live(key, now)
	if e == nil {
		return nil, ErrNotFound
	}
	return e.value, nil
}

// Set implements Store.
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("memory set", ttl); err != nil {
		return err
	}
	now, err := m.begin(ctx, "set")
	if err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.put(key, value, now, now.Add(ttl))
	return nil
}

// SetNX implements Store.
func (m *Memory) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("memory setnx", ttl); err != nil {
		return false, err
	}
	now, err := m.begin(ctx, "setnx")
	if err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	if m.live(key, now) != nil {
		return false, nil
	}
	m.put(key, value, now, now.Add(ttl))
	return true, nil
}

// GetDel implements Store.
func (m *Memory) GetDel(ctx context.Context, key string) ([]byte, error) {
	now, err := m.begin(ctx, "getdel")
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e := m.live(key, now)
	if e == nil {
		return nil, ErrNotFound
	}
	m.remove(e)
	return e.value, nil // no longer reachable from the store: no copy needed
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, keys ...string) error {
	if _, err := m.begin(ctx, "delete"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	for _, k := range keys {
		if e, ok := m.items[k]; ok {
			m.remove(e)
		}
	}
	return nil
}

// Expire implements Store.
func (m *Memory) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL("memory expire", ttl); err != nil {
		return false, err
	}
	now, err := m.begin(ctx, "expire")
	if err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	e := m.live(key, now)
	if e == nil {
		return false, nil
	}
	e.expires = now.Add(ttl)
	heap.Fix(&m.expiry, e.index)
	return true, nil
}

// Ping implements Store: it fails only once the store is closed.
func (m *Memory) Ping(ctx context.Context) error {
	if _, err := m.begin(ctx, "ping"); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

// Len returns the number of records held, including expired ones not yet
// swept or touched.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Close implements Store: it stops the sweeper, waits for it to end and
// drops every record.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		if m.swept != nil {
			<-m.swept
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.closed = true
		m.items, m.expiry = nil, nil
	})
	return nil
}

// expiryHeap is a min-heap of records by expiry time (container/heap).
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
