package lockout

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxClients bounds the clients a Memory tracks.
const DefaultMaxClients = 10000

// evictScan is how many of the least recently failed clients a full
// Memory looks at for one that is not locked out before evicting the
// least recent.
const evictScan = 8

// MemoryOptions configures NewMemory. The zero value gives the defaults.
type MemoryOptions struct {
	// MaxClients bounds the clients tracked (memory is O(MaxClients)).
	// When full, the client whose last failure is oldest is forgotten,
	// preferring one that is not locked out. Default: 10000.
	MaxClients int
}

// Memory is a Store in this process's memory: each replica counts its
// own clients' failures. Safe for concurrent use.
type Memory struct {
	max   int
	mu    sync.Mutex
	order *list.List // of *memEntry; front: most recent failure
	items map[string]*list.Element
}

// memEntry is a tracked client and when its record stops mattering.
type memEntry struct {
	client  string
	rec     record
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory.
func NewMemory(opts MemoryOptions) *Memory {
	n := opts.MaxClients
	if n <= 0 {
		n = DefaultMaxClients
	}
	return &Memory{max: n, order: list.New(), items: make(map[string]*list.Element)}
}

// Status implements Store; it does no I/O and never fails.
func (m *Memory) Status(_ context.Context, client string, now time.Time) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(client, now).status(now), nil
}

// Fail implements Store; it does no I/O and never fails.
func (m *Memory) Fail(_ context.Context, client string, now time.Time, p Policy) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, st := m.get(client, now).fail(now, p)
	m.put(client, rec, rec.expires(p), now)
	return st, nil
}

// Len returns the number of clients tracked.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// get returns client's record, or a fresh one if it has none or its
// record no longer matters at now.
func (m *Memory) get(client string, now time.Time) record {
	e, ok := m.items[client]
	if !ok {
		return record{}
	}
	me := e.Value.(*memEntry)
	if !now.Before(me.expires) {
		return record{}
	}
	return me.rec
}

// put stores client's record, moving it to the front and evicting an old
// client if the map is full.
func (m *Memory) put(client string, rec record, expires, now time.Time) {
	if e, ok := m.items[client]; ok {
		me := e.Value.(*memEntry)
		me.rec, me.expires = rec, expires
		m.order.MoveToFront(e)
		return
	}
	if len(m.items) >= m.max {
		m.evict(now)
	}
	m.items[client] = m.order.PushFront(&memEntry{client: client, rec: rec, expires: expires})
}

// evict forgets one client: among the evictScan least recent, the first
// that is not locked out at now, else the least recent.
func (m *Memory) evict(now time.Time) {
	victim := m.order.Back()
	for e, n := victim, 0; e != nil && n < evictScan; e, n = e.Prev(), n+1 {
		if !now.Before(e.Value.(*memEntry).rec.lockedUntil) {
			victim = e
			break
		}
	}
	if victim != nil {
		delete(m.items, victim.Value.(*memEntry).client)
		m.order.Remove(victim)
	}
}
