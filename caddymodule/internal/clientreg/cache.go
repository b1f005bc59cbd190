package clientreg

import (
	"sync"
	"time"
)

// cacheEntry is a resolved metadata document, or the error resolving it
// gave (a negative entry).
type cacheEntry struct {
	client  Client
	err     error
	expires time.Time
}

// cache holds resolved metadata documents, at most max of them. When full,
// expired entries are dropped first, then the one expiring soonest.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[string]cacheEntry
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[string]cacheEntry)}
}

// get returns the live entry for key.
func (c *cache) get(key string, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return cacheEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.m, key)
		return cacheEntry{}, false
	}
	return e, true
}

// put stores e under key, evicting if the cache is full.
func (c *cache) put(key string, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			var victim string
			var soonest time.Time
			for k, old := range c.m {
				if victim == "" || old.expires.Before(soonest) {
					victim, soonest = k, old.expires
				}
			}
			delete(c.m, victim)
		}
	}
	c.m[key] = e
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// flight is one fetch in progress; done is closed when res is set.
type flight struct {
	done    chan struct{}
	res     cacheEntry
	waiters int
}

// flightGroup makes concurrent resolutions of one client id share one
// fetch (a single-flight group).
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller started it (and
// so must run it and call finish).
func (g *flightGroup) join(key string) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	if f, ok := g.m[key]; ok {
		f.waiters++
		return f, false
	}
	f := &flight{done: make(chan struct{}), waiters: 1}
	g.m[key] = f
	return f, true
}

// finish publishes the result of key's flight and ends it.
func (g *flightGroup) finish(key string, f *flight, res cacheEntry) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.res = res
	close(f.done)
}

// waiting returns how many callers have joined key's flight in progress
// (0 if there is none).
func (g *flightGroup) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f.waiters
	}
	return 0
}
