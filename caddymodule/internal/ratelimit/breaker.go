package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker state.
type State int32

const (
	// StateClosed: Redis is used for every request.
	StateClosed State = iota
	// StateOpen: Redis failed Threshold times in a row; requests get their
	// zones' OnError verdict without asking Redis until Cooldown passes.
	StateOpen
	// StateHalfOpen: the cooldown passed; one request probes Redis while
	// the others are still short-circuited. Success closes the breaker,
	// failure opens it for another cooldown.
	StateHalfOpen
)

// String returns "closed", "open" or "half_open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

// Breaker defaults.
const (
	// DefaultBreakerThreshold is the number of consecutive failed round
	// trips that opens the breaker.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long the breaker stays open before a
	// probe.
	DefaultBreakerCooldown = time.Second
)

// breaker is a consecutive-failure circuit breaker. The closed state, the
// common case, costs two atomic loads per round trip and takes no lock.
type breaker struct {
	threshold int32
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(from, to State, err error)

	state    atomic.Int32 // a State; written under mu
	failures atomic.Int32 // consecutive failures while closed

	mu      sync.Mutex
	since   time.Time // when the breaker opened, or when the probe started
	probing bool      // a probe is out (half-open)
}

// newBreaker returns a closed breaker; onChange may be nil.
func newBreaker(threshold int, cooldown time.Duration, now func() time.Time, onChange func(from, to State, err error)) *breaker {
	return &breaker{threshold: int32(threshold), cooldown: cooldown, now: now, onChange: onChange}
}

// State returns the current state.
func (b *breaker) State() State { return State(b.state.Load()) }

// allow reports whether a round trip may be made now. Once the cooldown
// has passed it admits one probe at a time; a probe that never reported
// back is replaced after another cooldown.
func (b *breaker) allow() bool {
	ok, _ := b.admit()
	return ok
}

// admit is allow, also reporting whether the round trip admitted is the
// half-open breaker's probe: its caller must then report its outcome
// (success, failure) or, when the round trip says nothing about Redis
// (never sent, its caller gone), release it.
func (b *breaker) admit() (ok, probe bool) {
	if b.State() == StateClosed {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.State() {
	case StateClosed:
		return true, false
	case StateOpen:
		if b.now().Sub(b.since) < b.cooldown {
			return false, false
		}
		b.set(StateHalfOpen, nil)
	default: // half-open
		if b.probing && b.now().Sub(b.since) < b.cooldown {
			return false, false
		}
	}
	b.probing, b.since = true, b.now()
	return true, true
}

// release ends a probe that said nothing about Redis, so that the next
// round trip probes at once rather than after a cooldown: a client that
// went away must not keep the breaker from closing. It does nothing once
// the probe's outcome moved the breaker (closed or open again).
func (b *breaker) release() {
	if b.State() != StateHalfOpen {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.State() == StateHalfOpen {
		b.probing = false
	}
}

// success records a round trip that worked.
func (b *breaker) success() {
	if b.State() == StateClosed {
		if b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.State() == StateHalfOpen {
		b.failures.Store(0)
		b.probing = false
		b.set(StateClosed, nil)
	}
	// Open: a round trip started before the breaker opened; the probe
	// decides.
}

// failure records a round trip that failed with err.
func (b *breaker) failure(err error) {
	if b.State() == StateClosed && b.failures.Add(1) < b.threshold {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.State() {
	case StateClosed:
		if b.failures.Load() < b.threshold {
			return // a success reset the count meanwhile
		}
	case StateOpen:
		return
	}
	b.probing, b.since = false, b.now()
	b.set(StateOpen, err)
}

// set moves to state to and reports it; b.mu is held, so reports are
// made in order.
func (b *breaker) set(to State, err error) {
	from := b.State()
	b.state.Store(int32(to))
	if b.onChange != nil && from != to {
		b.onChange(from, to, err)
	}
}
