// Package lockout counts failed credential checks per client (a client
// address) and locks a client out after too many: the policy an
// operator sets with the `failures` block. After Limit failures within
// Window a client is locked out for Lockout; with Progressive, each
// consecutive lockout lasts twice as long as the one before, up to
// MaxLockout.
//
// The counters live in a Store: Memory (one process) or Redis (shared by
// every replica, one atomic Lua script per call). A Guard applies a
// Policy with a Store and a clock; it is what the adapter calls.
//
// The package is plain Go (no Caddy, no zap). Client values are never
// written anywhere in the clear: Redis keys hold a hash of them, and
// errors never name them.
package lockout

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of Policy: a client may fail 20 times a minute, then is
// locked out for a minute.
const (
	DefaultLimit   = 20
	DefaultWindow  = time.Minute
	DefaultLockout = time.Minute
	// DefaultMaxLockout caps progressive lockouts when MaxLockout is not
	// set (or the Lockout itself, when that is longer).
	DefaultMaxLockout = time.Hour
	// maxStrikes bounds the doubling (2^40 lockouts is beyond any cap).
	maxStrikes = 40
)

// ErrLocked is matched (errors.Is) by a *LockedError.
var ErrLocked = errors.New("lockout: too many failed credential checks from this client")

// LockedError says a client is locked out, and for how long still.
type LockedError struct {
	// RetryAfter is how long the client is still locked out, rounded up
	// to a whole second (for the Retry-After header); at least one second.
	RetryAfter time.Duration
}

// Error implements error; the text names no client.
func (e *LockedError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrLocked, e.RetryAfter)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Policy says when a client is locked out and for how long. The zero
// value is the default policy (see WithDefaults).
type Policy struct {
	// Limit is how many failures a client may make within Window; the
	// Limit-th locks it out. Default: 20.
	Limit int
	// Window is the period failures are counted in, from a client's first
	// failure. Default: 1m.
	Window time.Duration
	// Lockout is how long a locked-out client is refused (the first
	// time, with Progressive). Default: 1m.
	Lockout time.Duration
	// Progressive doubles each consecutive lockout: a lockout is
	// consecutive when it starts less than MaxLockout after the previous
	// one ended. Default: false (every lockout lasts Lockout).
	Progressive bool
	// MaxLockout caps a progressive lockout. Default: 1h, or Lockout when
	// that is longer.
	MaxLockout time.Duration
}

// WithDefaults returns p with its zero fields set to their defaults.
func (p Policy) WithDefaults() Policy {
	if p.Limit == 0 {
		p.Limit = DefaultLimit
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	if p.Lockout == 0 {
		p.Lockout = DefaultLockout
	}
	if p.MaxLockout == 0 {
		p.MaxLockout = max(DefaultMaxLockout, p.Lockout)
	}
	return p
}

// Validate checks a policy (after WithDefaults).
func (p Policy) Validate() error {
	switch {
	case p.Limit < 1:
		return fmt.Errorf("lockout: the limit must be at least 1 failure, not %d", p.Limit)
	case p.Window < time.Millisecond:
		return fmt.Errorf("lockout: the window %v must be at least 1ms", p.Window)
	case p.Lockout < time.Second:
		return fmt.Errorf("lockout: the lockout %v must be at least 1s", p.Lockout)
	case p.MaxLockout < p.Lockout:
		return fmt.Errorf("lockout: the maximum lockout %v is shorter than the lockout %v", p.MaxLockout, p.Lockout)
	}
	return nil
}

// duration is how long the lockout with the given strike (1 for the
// first of a series) lasts.
func (p Policy) duration(strike int) time.Duration {
	if !p.Progressive || strike <= 1 {
		return p.Lockout
	}
	d := p.Lockout
	for i := 1; i < strike && d < p.MaxLockout; i++ {
		d *= 2
	}
	return min(d, p.MaxLockout)
}

// memory is how long after a lockout ends the next one still counts as
// consecutive.
func (p Policy) memory() time.Duration {
	if !p.Progressive {
		return 0
	}
	return p.MaxLockout
}

// Status is a client's standing, as a Store reports it.
type Status struct {
	// Locked is how long the client is still locked out; 0 when it is not.
	Locked time.Duration
	// Started is set by the Fail call whose failure started the lockout.
	Started bool
	// Strike numbers the current (or last) lockout in its series of
	// consecutive lockouts: 1 for the first.
	Strike int
}

// Store keeps the failure counters. Every method takes the time (the
// caller's clock) and, for Fail, the policy, so one Store serves every
// configuration and survives reloads. Implementations are safe for
// concurrent use; each call is atomic.
type Store interface {
	// Status returns client's standing at now without changing it.
	Status(ctx context.Context, client string, now time.Time) (Status, error)
	// Fail records one failed check by client at now under p and returns
	// its standing after it. A failure while the client is locked out is
	// not counted (the client was refused without a check).
	Fail(ctx context.Context, client string, now time.Time, p Policy) (Status, error)
}

// ceilSecond rounds d up to a whole second, at least one.
func ceilSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}
