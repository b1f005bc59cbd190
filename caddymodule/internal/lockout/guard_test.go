package lockout_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
)

// countingStore counts the calls that reach a store and can fail them.
type countingStore struct {
	lockout.Store
	calls atomic.Int32
	down  atomic.Bool
}

var errDown = errors.New("store down")

func (c *countingStore) Status(ctx context.Context, client string, now time.Time) (lockout.Status, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return lockout.Status{}, errDown
	}
	return c.Store.Status(ctx, client, now)
}

func (c *countingStore) Fail(ctx context.Context, client string, now time.Time, p lockout.Policy) (lockout.Status, error) {
	c.calls.Add(1)
	if c.down.Load() {
		return lockout.Status{}, errDown
	}
	return c.Store.Fail(ctx, client, now, p)
}

func newGuard(t *testing.T, opts lockout.GuardOptions) *lockout.Guard {
	t.Helper()
	g, err := lockout.NewGuard(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// retryAfter returns the RetryAfter of a *LockedError, or 0 for nil.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	if err == nil {
		return 0
	}
	var le *lockout.LockedError
	if !errors.As(err, &le) || !errors.Is(err, lockout.ErrLocked) {
		t.Fatalf("Check = %v, want a *LockedError", err)
	}
	return le.RetryAfter
}

// TestGuardDefaults: the zero policy is today's: 20 failures a minute,
// then one minute, the same every time.
func TestGuardDefaults(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New()
	g := newGuard(t, lockout.GuardOptions{Store: lockout.NewMemory(lockout.MemoryOptions{}), Now: clock.Now})
	if p := g.Policy(); p.Limit != 20 || p.Window != time.Minute || p.Lockout != time.Minute || p.Progressive {
		t.Fatalf("default policy %+v", p)
	}
	ctx := context.Background()
	for round := range 2 {
		for i := range 19 {
			if s := g.Fail(ctx, "ip"); s.Locked != 0 {
				t.Fatalf("round %d failure %d locked out", round, i+1)
			}
		}
		if s := g.Fail(ctx, "ip"); !s.Started || s.Locked != time.Minute {
			t.Fatalf("round %d, 20th failure: %+v", round, s)
		}
		clock.Advance(1500 * time.Millisecond)
		if got := retryAfter(t, g.Check(ctx, "ip")); got != 59*time.Second {
			t.Fatalf("Retry-After = %v, want 59s (58.5s rounded up)", got)
		}
		if err := g.Check(ctx, "other"); err != nil {
			t.Fatalf("another client: %v", err)
		}
		clock.Advance(time.Minute)
		if err := g.Check(ctx, "ip"); err != nil {
			t.Fatalf("after the lockout: %v", err)
		}
	}
}

// TestGuardClearTTL: with a ClearTTL, "not locked out" is reused for it,
// a lockout seen is remembered until it ends, and every failure still
// reaches the store.
func TestGuardClearTTL(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New()
	shared := lockout.NewMemory(lockout.MemoryOptions{})
	a, b := &countingStore{Store: shared}, &countingStore{Store: shared}
	p := lockout.Policy{Limit: 2, Lockout: 10 * time.Second}
	ga := newGuard(t, lockout.GuardOptions{Store: a, Policy: p, Now: clock.Now, ClearTTL: time.Second})
	gb := newGuard(t, lockout.GuardOptions{Store: b, Policy: p, Now: clock.Now, ClearTTL: time.Second})
	ctx := context.Background()
	for range 5 {
		if err := gb.Check(ctx, "ip"); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("5 checks within the clear TTL asked the store %d times, want 1", n)
	}
	ga.Fail(ctx, "ip")
	if s := ga.Fail(ctx, "ip"); !s.Started {
		t.Fatalf("a's second failure: %+v", s)
	}
	if err := gb.Check(ctx, "ip"); err != nil {
		t.Fatalf("b within its clear TTL: %v (b may not know yet)", err)
	}
	clock.Advance(time.Second)
	if got := retryAfter(t, gb.Check(ctx, "ip")); got != 9*time.Second {
		t.Fatalf("b after its clear TTL: Retry-After %v, want 9s", got)
	}
	calls := b.calls.Load()
	clock.Advance(4 * time.Second)
	if got := retryAfter(t, gb.Check(ctx, "ip")); got != 5*time.Second || b.calls.Load() != calls {
		t.Fatalf("b later: Retry-After %v, store calls %d → %d; want 5s from memory", got, calls, b.calls.Load())
	}
	clock.Advance(5 * time.Second)
	if err := gb.Check(ctx, "ip"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	if _, err := lockout.NewGuard(lockout.GuardOptions{Store: a, ClearTTL: 2 * time.Second}); err == nil {
		t.Fatal("a clear TTL over 1s was accepted")
	}
}

// TestGuardStoreDown: while the store fails, checks pass and failures
// are not counted, the store is left alone for the cooldown, and errors
// are reported.
func TestGuardStoreDown(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New()
	cs := &countingStore{Store: lockout.NewMemory(lockout.MemoryOptions{})}
	var reported atomic.Int32
	g := newGuard(t, lockout.GuardOptions{Store: cs, Policy: lockout.Policy{Limit: 1}, Now: clock.Now,
		OnStoreError: func(error) { reported.Add(1) }})
	ctx := context.Background()
	cs.down.Store(true)
	if err := g.Check(ctx, "ip"); err != nil {
		t.Fatalf("check with the store down: %v, want nil (fail open)", err)
	}
	for range 3 {
		if s := g.Fail(ctx, "ip"); s.Locked != 0 {
			t.Fatalf("a failure with the store down locked out: %+v", s)
		}
	}
	if cs.calls.Load() != 1 || reported.Load() != 1 {
		t.Fatalf("store calls %d, errors reported %d; want 1 and 1 (left alone for the cooldown)", cs.calls.Load(), reported.Load())
	}
	cs.down.Store(false)
	clock.Advance(lockout.DefaultCooldown)
	if s := g.Fail(ctx, "ip"); !s.Started {
		t.Fatalf("after the cooldown: %+v, want the store used again", s)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		p    lockout.Policy
		ok   bool
	}{
		{name: "defaults", ok: true},
		{name: "negative limit", p: lockout.Policy{Limit: -1}},
		{name: "sub-second lockout", p: lockout.Policy{Lockout: time.Millisecond}},
		{name: "cap below lockout", p: lockout.Policy{Lockout: time.Hour, MaxLockout: time.Minute}},
		{name: "long lockout, default cap", p: lockout.Policy{Lockout: 2 * time.Hour, Progressive: true}, ok: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.WithDefaults().Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v", tt.p.WithDefaults(), err)
			}
		})
	}
}
