package lockout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds and defaults of GuardOptions.
const (
	// MaxClearTTL bounds GuardOptions.ClearTTL, so a lockout started on
	// one replica is honoured by every other within it.
	MaxClearTTL = time.Second
	// DefaultCacheSize bounds the clients whose standing a Guard
	// remembers.
	DefaultCacheSize = 10000
	// DefaultCooldown is how long a Guard leaves its store alone after
	// the store failed.
	DefaultCooldown = time.Second
)

// GuardOptions configures NewGuard.
type GuardOptions struct {
	// Policy is applied to every failure (WithDefaults is applied to it).
	Policy Policy
	// Store keeps the counters. Required.
	Store Store
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// ClearTTL is how long a store's answer that a client is not locked
	// out is reused for that client's later checks, at most MaxClearTTL
	// (1s); a lockout the Guard itself started or saw is remembered
	// until it ends. For a remote store this spares a round trip per
	// request; a lockout started by another replica is then honoured
	// within ClearTTL. Default: 0 (the store is asked every time).
	ClearTTL time.Duration
	// CacheSize bounds the clients remembered for ClearTTL. Default:
	// 10000.
	CacheSize int
	// Cooldown is how long the store is left alone after it failed:
	// meanwhile checks pass and failures are not counted (a store outage
	// must not lock everyone out). Default: 1s.
	Cooldown time.Duration
	// OnStoreError, if set, is called with every store error (which
	// never names a client).
	OnStoreError func(error)
}

// Guard applies a Policy with a Store: Check before a credential is
// checked, Fail after a check that counts failed. Safe for concurrent use.
type Guard struct {
	policy    Policy
	store     Store
	now       func() time.Time
	clearTTL  time.Duration
	cooldown  time.Duration
	onErr     func(error)
	downUntil atomic.Int64 // unix nanoseconds; 0: up

	mu    sync.Mutex
	size  int
	known map[string]standing
}

// standing is what a Guard remembers of a client.
type standing struct {
	lockedUntil time.Time // a lockout known to last until then
	clearUntil  time.Time // "not locked out" may be reused until then
}

// NewGuard checks opts and returns a Guard.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Store == nil {
		return nil, errors.New("lockout: a guard needs a store")
	}
	p := opts.Policy.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if opts.ClearTTL < 0 || opts.ClearTTL > MaxClearTTL {
		return nil, errors.New("lockout: the clear TTL must be between 0 and 1s")
	}
	if opts.CacheSize < 0 || opts.Cooldown < 0 {
		return nil, errors.New("lockout: the cache size and cooldown must not be negative")
	}
	g := &Guard{policy: p, store: opts.Store, now: opts.Now, clearTTL: opts.ClearTTL,
		cooldown: opts.Cooldown, onErr: opts.OnStoreError, size: opts.CacheSize, known: map[string]standing{}}
	if g.now == nil {
		g.now = time.Now
	}
	if g.cooldown == 0 {
		g.cooldown = DefaultCooldown
	}
	if g.size == 0 {
		g.size = DefaultCacheSize
	}
	return g, nil
}

// Policy returns the policy the guard applies, with its defaults.
func (g *Guard) Policy() Policy { return g.policy }

// Check returns a *LockedError while client is locked out, else nil
// (also while the store is failing: see GuardOptions.Cooldown).
func (g *Guard) Check(ctx context.Context, client string) error {
	now := g.now()
	if s, ok := g.remembered(client); ok {
		if now.Before(s.lockedUntil) {
			return &LockedError{RetryAfter: ceilSecond(s.lockedUntil.Sub(now))}
		}
		if now.Before(s.clearUntil) {
			return nil
		}
	}
	if g.down(now) {
		return nil
	}
	st, err := g.store.Status(ctx, client, now)
	if err != nil {
		g.failed(now, err)
		return nil
	}
	g.remember(client, now, st)
	if st.Locked > 0 {
		return &LockedError{RetryAfter: ceilSecond(st.Locked)}
	}
	return nil
}

// Fail records a failed check by client and returns its standing after
// it (Locked is 0 while the store is failing: the failure is then not
// counted).
func (g *Guard) Fail(ctx context.Context, client string) Status {
	now := g.now()
	if g.down(now) {
		return Status{}
	}
	st, err := g.store.Fail(ctx, client, now, g.policy)
	if err != nil {
		g.failed(now, err)
		return Status{}
	}
	g.remember(client, now, st)
	return st
}

// down reports whether the store is being left alone at now.
func (g *Guard) down(now time.Time) bool {
	until := g.downUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// failed notes a store error at now.
func (g *Guard) failed(now time.Time, err error) {
	g.downUntil.Store(now.Add(g.cooldown).UnixNano())
	if g.onErr != nil {
		g.onErr(err)
	}
}

// remembered returns what the guard remembers of client.
func (g *Guard) remembered(client string) (standing, bool) {
	if g.clearTTL == 0 {
		return standing{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.known[client]
	return s, ok
}

// remember keeps the store's answer about client at now: a lockout until
// it ends, "not locked out" for ClearTTL. When the memory is full it is
// emptied (bounded, O(1) amortised; what is lost is only a round trip).
func (g *Guard) remember(client string, now time.Time, st Status) {
	if g.clearTTL == 0 {
		return
	}
	s := standing{clearUntil: now.Add(g.clearTTL)}
	if st.Locked > 0 {
		s = standing{lockedUntil: now.Add(st.Locked)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.known[client]; !ok && len(g.known) >= g.size {
		clear(g.known)
	}
	g.known[client] = s
}
