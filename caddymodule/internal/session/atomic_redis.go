package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// RedisAtomic implements Atomic on Redis (standalone, Sentinel or
// Cluster): Swap is one Lua script, sets are Redis SETs. Every operation
// touches one key, so it works on a cluster.
type RedisAtomic struct {
	st     *store.Redis
	client redis.UniversalClient
}

var _ Atomic = (*RedisAtomic)(nil)

// NewRedisAtomic returns a RedisAtomic using r's client.
func NewRedisAtomic(r *store.Redis) *RedisAtomic {
	return &RedisAtomic{st: r, client: r.Client()}
}

// swapScript: KEYS[1] record; ARGV old value, new value, ttl in ms.
// A missing key reads as false, which never equals a string.
var swapScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// addMemberScript: KEYS[1] set; ARGV member, ttl in ms. The expiry is
// only ever extended.
var addMemberScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
`)

// ms converts a positive TTL to whole milliseconds (at least 1).
func ms(ttl time.Duration) int64 { return max(ttl.Milliseconds(), 1) }

// wrap prefixes a Redis error; errors never contain values or keys.
func (a *RedisAtomic) wrap(op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	return fmt.Errorf("session: redis %s: %w", op, err)
}

// Swap implements Atomic.
func (a *RedisAtomic) Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("session: redis swap: %w", store.ErrInvalidTTL)
	}
	n, err := swapScript.Run(ctx, a.client, []string{key}, old, new, ms(ttl)).Int()
	return n == 1, a.wrap("swap", err)
}

// Remove implements Atomic (DEL; scripts run atomically, so none can
// interleave with it).
func (a *RedisAtomic) Remove(ctx context.Context, keys ...string) error {
	return a.st.Delete(ctx, keys...)
}

// AddMember implements Atomic.
func (a *RedisAtomic) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("session: redis add member: %w", store.ErrInvalidTTL)
	}
	return a.wrap("add member", addMemberScript.Run(ctx, a.client, []string{key}, member, ms(ttl)).Err())
}

// Members implements Atomic.
func (a *RedisAtomic) Members(ctx context.Context, key string) ([]string, error) {
	m, err := a.client.SMembers(ctx, key).Result()
	return m, a.wrap("members", err)
}

// RemoveMember implements Atomic.
func (a *RedisAtomic) RemoveMember(ctx context.Context, key, member string) error {
	return a.wrap("remove member", a.client.SRem(ctx, key, member).Err())
}
