package ratelimittest

import (
	"sync"
	"time"
)

// Clock is a manual clock for limiters under test: time moves only when
// Advance is called. It is safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	hooks []func(now time.Time, d time.Duration)
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass it as a limiter's Now option.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (at least 0), then calls the hooks
// registered with OnAdvance with the new time and d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(max(d, 0))
	now, hooks := c.now, c.hooks
	c.mu.Unlock()
	for _, h := range hooks {
		h(now, d)
	}
}

// OnAdvance registers f to run after every Advance, to move a store's own
// clock along (for miniredis: SetTime(now) and FastForward(d)).
func (c *Clock) OnAdvance(f func(now time.Time, d time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = append(c.hooks, f)
}
