package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Atomic is the atomic record access the Manager needs beyond store.Store:
// a compare-and-swap for touches and refreshes (so neither revives a
// deleted session nor overwrites a newer write), and small index sets
// (a subject's sessions, an IdP session's sessions) for revocation.
//
// AtomicFor picks the implementation for a store: one Lua script per
// operation on Redis (RedisAtomic), per-key locks on any other store
// (LockingAtomic). Every writer of the session keys of one store must go
// through an Atomic of the same kind; the Manager does.
type Atomic interface {
	// Swap replaces the value of key with new, expiring after ttl, only if
	// its current value equals old byte for byte, and reports whether it
	// did. A missing or expired key never matches. ttl must be positive.
	Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error)
	// Remove deletes keys so that no concurrent Swap revives them.
	// Missing keys are ignored.
	Remove(ctx context.Context, keys ...string) error
	// AddMember adds member to the set at key and makes the set expire no
	// sooner than ttl from now (it never shortens its expiry).
	AddMember(ctx context.Context, key, member string, ttl time.Duration) error
	// Members returns the members of the set at key, in no particular
	// order; none for a missing set.
	Members(ctx context.Context, key string) ([]string, error)
	// RemoveMember removes member from the set at key, if present.
	RemoveMember(ctx context.Context, key, member string) error
}

// AtomicFor returns the Atomic for st: a RedisAtomic for a *store.Redis,
// otherwise a LockingAtomic.
func AtomicFor(st store.Store) Atomic {
	if r, ok := st.(*store.Redis); ok {
		return NewRedisAtomic(r)
	}
	return NewLockingAtomic(st)
}

// LockingAtomic implements Atomic on any store.Store with a short lock per
// key (SetNX of key+":lock") around read-modify-write. It takes several
// round trips per operation, which is fine in memory; it is what AtomicFor
// uses for store.Memory. Sets are stored as JSON arrays with the set's
// expiry alongside.
type LockingAtomic struct {
	st store.Store
	// lockTTL bounds how long a crashed holder blocks a key.
	lockTTL time.Duration
	// poll is the pause between attempts to take a busy lock.
	poll time.Duration
}

var _ Atomic = (*LockingAtomic)(nil)

// NewLockingAtomic returns a LockingAtomic on st.
func NewLockingAtomic(st store.Store) *LockingAtomic {
	return &LockingAtomic{st: st, lockTTL: 2 * time.Second, poll: time.Millisecond}
}

// withLock runs fn while holding key's lock.
func (a *LockingAtomic) withLock(ctx context.Context, key string, fn func() error) error {
	lk := key + ":lock"
	for {
		ok, err := a.st.SetNX(ctx, lk, []byte{1}, a.lockTTL)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		t := time.NewTimer(a.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("session: waiting for record lock: %w", ctx.Err())
		case <-t.C:
		}
	}
	defer a.st.Delete(context.WithoutCancel(ctx), lk)
	return fn()
}

// Swap implements Atomic.
func (a *LockingAtomic) Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("session: swap: %w", store.ErrInvalidTTL)
	}
	swapped := false
	err := a.withLock(ctx, key, func() error {
		cur, err := a.st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || !bytes.Equal(cur, old) {
			return err
		}
		if err := a.st.Set(ctx, key, new, ttl); err != nil {
			return err
		}
		swapped = true
		return nil
	})
	return swapped, err
}

// Remove implements Atomic.
func (a *LockingAtomic) Remove(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := a.withLock(ctx, k, func() error { return a.st.Delete(ctx, k) }); err != nil {
			return err
		}
	}
	return nil
}

// lockingSet is the stored form of a set.
type lockingSet struct {
	Members []string  `json:"m"`
	Expires time.Time `json:"e"`
}

// readSet returns the set at key, empty if missing or unreadable.
func (a *LockingAtomic) readSet(ctx context.Context, key string) (lockingSet, error) {
	var s lockingSet
	raw, err := a.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	_ = json.Unmarshal(raw, &s) // a corrupt set is replaced
	return s, nil
}

// writeSet stores s at key until s.Expires.
func (a *LockingAtomic) writeSet(ctx context.Context, key string, s lockingSet) error {
	ttl := time.Until(s.Expires)
	if len(s.Members) == 0 || ttl <= 0 {
		return a.st.Delete(ctx, key)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return a.st.Set(ctx, key, raw, ttl)
}

// AddMember implements Atomic.
func (a *LockingAtomic) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("session: add member: %w", store.ErrInvalidTTL)
	}
	return a.withLock(ctx, key, func() error {
		s, err := a.readSet(ctx, key)
		if err != nil {
			return err
		}
		if !slices.Contains(s.Members, member) {
			s.Members = append(s.Members, member)
		}
		if exp := time.Now().Add(ttl); exp.After(s.Expires) {
			s.Expires = exp
		}
		return a.writeSet(ctx, key, s)
	})
}

// Members implements Atomic.
func (a *LockingAtomic) Members(ctx context.Context, key string) ([]string, error) {
	s, err := a.readSet(ctx, key)
	return s.Members, err
}

// RemoveMember implements Atomic.
func (a *LockingAtomic) RemoveMember(ctx context.Context, key, member string) error {
	return a.withLock(ctx, key, func() error {
		s, err := a.readSet(ctx, key)
		if err != nil || !slices.Contains(s.Members, member) {
			return err
		}
		s.Members = slices.DeleteFunc(s.Members, func(m string) bool { return m == member })
		return a.writeSet(ctx, key, s)
	})
}
