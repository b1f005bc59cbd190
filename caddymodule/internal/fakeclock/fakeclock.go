// Package fakeclock is a manually advanced clock for tests, to inject
// where the code takes a `Now func() time.Time` (and, for code that
// waits, an `After func(time.Duration) <-chan time.Time`).
package fakeclock

import (
	"sync"
	"time"
)

// Start is where a new Clock stands.
var Start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	timers  []timer
	changed *sync.Cond // signalled when a timer is added; lazily made
}

// timer is one pending After.
type timer struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock at Start.
func New() *Clock { return &Clock{t: Start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d, firing the timers that fall due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.fireLocked()
}

// Set moves the clock to t (also backwards), firing the timers that
// fall due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
	c.fireLocked()
}

// After returns a channel that receives the clock's time once the clock
// has been moved at least d past now (at once when d <= 0), like
// time.After on this clock.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.timers = append(c.timers, timer{at: c.t.Add(d), ch: ch})
	c.cond().Broadcast()
	return ch
}

// Timers returns the number of pending After timers.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntilTimers waits until at least n After timers are pending, so
// a test knows its goroutines are parked on the clock before moving it.
func (c *Clock) BlockUntilTimers(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.timers) < n {
		c.cond().Wait()
	}
}

// cond returns the condition signalled when a timer is added. c.mu must
// be held.
func (c *Clock) cond() *sync.Cond {
	if c.changed == nil {
		c.changed = sync.NewCond(&c.mu)
	}
	return c.changed
}

// fireLocked delivers the timers that are due. c.mu must be held.
func (c *Clock) fireLocked() {
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.t // buffered, received at most once
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}
