package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Locker is a lock shared by every replica that uses one store: the
// refresh of a connection's tokens, and its removal, run under it.
//
// Acquire takes the lock at key for ttl if nobody holds it (SET NX PX),
// recording token as the holder; Release frees it only if token still
// holds it (compare and delete), so a holder whose lock expired and was
// taken by another replica cannot free the other's lock.
type Locker interface {
	// Acquire reports whether the lock at key was free and is now held
	// with token until ttl passes or Release. ttl must be positive.
	Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// Release frees the lock at key if token holds it; otherwise it does
	// nothing.
	Release(ctx context.Context, key, token string) error
}

// LockerFor returns the Locker for st: one Lua script per release on
// Redis (RedisLocker), a process-wide mutex around the store's
// operations for any other store (MemoryLocker: such a store is not
// shared between processes).
func LockerFor(st store.Store) Locker {
	if r, ok := st.(*store.Redis); ok {
		return NewRedisLocker(r)
	}
	return NewMemoryLocker(st)
}

// MemoryLocker implements Locker on a store that one process owns (such
// as store.Memory): SetNX acquires, and a mutex makes the
// read-compare-delete of Release atomic with respect to every other
// Acquire and Release through this locker.
type MemoryLocker struct {
	st store.Store
	mu sync.Mutex
}

// NewMemoryLocker returns a MemoryLocker on st.
func NewMemoryLocker(st store.Store) *MemoryLocker { return &MemoryLocker{st: st} }

// Acquire implements Locker.
func (l *MemoryLocker) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, err := l.st.SetNX(ctx, key, []byte(token), ttl)
	if err != nil {
		return false, fmt.Errorf("vault: taking lock: %w", err)
	}
	return ok, nil
}

// Release implements Locker.
func (l *MemoryLocker) Release(ctx context.Context, key, token string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, err := l.st.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("vault: releasing lock: %w", err)
	case !bytes.Equal(cur, []byte(token)):
		return nil
	}
	if err := l.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("vault: releasing lock: %w", err)
	}
	return nil
}

// RedisLocker implements Locker on Redis (standalone, Sentinel or
// Cluster): SET NX PX to acquire, a compare-and-delete Lua script to
// release. Each touches one key.
type RedisLocker struct {
	st     *store.Redis
	client redis.UniversalClient
}

// NewRedisLocker returns a RedisLocker using r's client.
func NewRedisLocker(r *store.Redis) *RedisLocker { return &RedisLocker{st: r, client: r.Client()} }

// releaseScript: KEYS[1] the lock; ARGV[1] the holder's token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Acquire implements Locker.
func (l *RedisLocker) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := l.st.SetNX(ctx, key, []byte(token), ttl)
	if err != nil {
		return false, fmt.Errorf("vault: taking lock: %w", err)
	}
	return ok, nil
}

// Release implements Locker.
func (l *RedisLocker) Release(ctx context.Context, key, token string) error {
	if err := releaseScript.Run(ctx, l.client, []string{key}, token).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("vault: redis release lock: %w", err)
	}
	return nil
}
