package apikey

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrTooManyFailures is matched (errors.Is) by the error Registry.Verify
// returns for a client that has used up its failure budget; the error is
// a *TooManyFailuresError carrying when to retry. The adapter answers
// 429 with Retry-After.
var ErrTooManyFailures = errors.New("apikey: too many failed key checks from this client")

// TooManyFailuresError is returned while a client is refused for failing
// too many key checks.
type TooManyFailuresError struct {
	// RetryAfter is how long the client is still refused, rounded up to
	// a whole second (for the Retry-After header); at least one second.
	RetryAfter time.Duration
}

// Error implements error; the text names no client and no key.
func (e *TooManyFailuresError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrTooManyFailures, e.RetryAfter)
}

// Is makes errors.Is(err, ErrTooManyFailures) true.
func (e *TooManyFailuresError) Is(target error) bool { return target == ErrTooManyFailures }

// Defaults of GuardOptions.
const (
	// DefaultMaxFailures is the failure budget per client and window.
	DefaultMaxFailures = 20
	// DefaultFailureWindow is the window failures are counted in.
	DefaultFailureWindow = time.Minute
	// DefaultCooldown is how long a client that used its budget is refused.
	DefaultCooldown = time.Minute
	// DefaultMaxClients bounds the number of clients tracked.
	DefaultMaxClients = 10000
)

// GuardOptions configures a Guard. The zero value gives the defaults.
type GuardOptions struct {
	// MaxFailures is how many failed key checks a client may make within
	// Window before it is refused for Cooldown. Default: 20; negative
	// disables the guard.
	MaxFailures int
	// Window is the period failures are counted in, from a client's first
	// failure. Default: 1m.
	Window time.Duration
	// Cooldown is how long a client that used up its budget is refused.
	// Default: 1m.
	Cooldown time.Duration
	// MaxClients bounds the clients tracked (memory is O(MaxClients)).
	// When full, the client whose last failure is oldest is forgotten,
	// preferring one that is not currently refused. Default: 10000.
	MaxClients int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Guard is a failure budget per client (IP address): after MaxFailures
// failed key checks within Window, the client is refused for Cooldown
// without any key being checked, which makes guessing keys slow and
// keeps a flood of made-up keys from reaching the store.
//
// The client is throttled, not the key: a key stays usable from every
// other client, so nobody can lock a victim out by failing on purpose
// with the victim's key id. During its cool-down the throttled client is
// refused even with a valid key, because a key is only known to be valid
// after checking it. The budget is per gateway instance (not shared
// through the store). Guard is safe for concurrent use.
type Guard struct {
	max      int
	window   time.Duration
	cooldown time.Duration
	now      func() time.Time

	mu      sync.RWMutex
	clients *boundedMap[*guardEntry]
}

// guardEntry is the budget of one client. Its fields are written under
// the Guard's write lock only.
type guardEntry struct {
	windowStart  time.Time
	failures     int
	blockedUntil time.Time
}

// NewGuard checks opts and returns a Guard.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Window < 0 || opts.Cooldown < 0 || opts.MaxClients < 0 {
		return nil, errors.New("apikey: guard window, cooldown and max clients must not be negative")
	}
	g := &Guard{
		max:      orDefaultInt(opts.MaxFailures, DefaultMaxFailures),
		window:   orDefaultDuration(opts.Window, DefaultFailureWindow),
		cooldown: orDefaultDuration(opts.Cooldown, DefaultCooldown),
		now:      opts.Now,
	}
	if g.now == nil {
		g.now = time.Now
	}
	size := orDefaultInt(opts.MaxClients, DefaultMaxClients)
	g.clients = newBoundedMap(size, func(e *guardEntry) bool {
		return !g.now().Before(e.blockedUntil) // evict clients not refused first
	})
	return g, nil
}

// Check returns a *TooManyFailuresError if client is in its cool-down,
// and nil otherwise. It is cheap (a read lock and a map lookup) and
// called before every key check.
func (g *Guard) Check(client string) error {
	if g == nil || g.max < 0 {
		return nil
	}
	g.mu.RLock()
	e, ok := g.clients.get(client)
	var until time.Time
	if ok {
		until = e.blockedUntil
	}
	g.mu.RUnlock()
	now := g.now()
	if !ok || !now.Before(until) {
		return nil
	}
	return &TooManyFailuresError{RetryAfter: ceilSecond(until.Sub(now))}
}

// Fail records a failed key check by client and reports whether it has
// now used up its budget (later Checks refuse it for the cool-down).
func (g *Guard) Fail(client string) bool {
	if g == nil || g.max < 0 {
		return false
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.clients.get(client)
	if !ok {
		e = &guardEntry{windowStart: now}
	} else if !now.Before(e.windowStart.Add(g.window)) {
		e.windowStart, e.failures = now, 0
	}
	e.failures++
	blocked := e.failures >= g.max
	if blocked {
		e.blockedUntil = now.Add(g.cooldown)
		e.windowStart, e.failures = now, 0
	}
	g.clients.put(client, e)
	return blocked
}

// Len returns the number of clients tracked.
func (g *Guard) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.clients.len()
}

// ceilSecond rounds d up to a whole second, at least one.
func ceilSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}

func orDefaultInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orDefaultDuration(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
