package authserver

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

// swapper is the one atomic operation the server needs beyond
// store.Store: replace a record only if it still holds what was read.
// Code redemption and refresh-token rotation are read, decide, swap: of
// two replicas that read the same record, exactly one swap succeeds and
// the other re-reads what the winner wrote.
type swapper interface {
	// swap replaces key's value with new (expiring after ttl) only if its
	// current value equals old byte for byte; a missing key never matches.
	swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error)
	// remove deletes keys so that no concurrent swap revives them.
	remove(ctx context.Context, keys ...string) error
}

// swapperFor returns a Lua compare-and-swap for Redis and a locked
// read-compare-write for any other store (the in-memory store lives in
// one process, where a mutex is enough).
func swapperFor(st store.Store) swapper {
	if r, ok := st.(*store.Redis); ok {
		return &redisSwapper{st: r, client: r.Client()}
	}
	mu, _ := storeLocks.LoadOrStore(st, new(sync.Mutex))
	return &lockedSwapper{st: st, mu: mu.(*sync.Mutex)}
}

// storeLocks holds one mutex per in-process store, shared by every
// Server on it (two configurations overlap during a reload).
var storeLocks sync.Map

// redisSwapper is one Lua script per swap, touching one key (so it
// works on Redis Cluster).
type redisSwapper struct {
	st     *store.Redis
	client redis.UniversalClient
}

// remove is DEL: scripts run atomically, so none interleaves with it.
func (s *redisSwapper) remove(ctx context.Context, keys ...string) error {
	return s.st.Delete(ctx, keys...)
}

// swapScript: KEYS[1] record; ARGV old value, new value, ttl in ms. A
// missing key reads as false, which never equals a string.
var swapScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

func (s *redisSwapper) swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("authserver: swap: %w", store.ErrInvalidTTL)
	}
	n, err := swapScript.Run(ctx, s.client, []string{key}, old, new, max(ttl.Milliseconds(), 1)).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("authserver: redis swap: %w", err)
	}
	return n == 1, nil
}

// lockedSwapper serialises swaps of one process with a mutex.
type lockedSwapper struct {
	mu *sync.Mutex
	st store.Store
}

func (s *lockedSwapper) swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("authserver: swap: %w", err)
	}
	if !bytes.Equal(cur, old) {
		return false, nil
	}
	if err := s.st.Set(ctx, key, new, ttl); err != nil {
		return false, fmt.Errorf("authserver: swap: %w", err)
	}
	return true, nil
}

func (s *lockedSwapper) remove(ctx context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Delete(ctx, keys...)
}
