package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store on Redis (standalone, Sentinel or Cluster) through a
// go-redis UniversalClient. Create it with NewRedis; it is safe for
// concurrent use and meant to be shared, long-lived, by everything that uses
// the same configuration (see RedisConfig.Fingerprint).
type Redis struct {
	client  redis.UniversalClient
	cluster *redis.ClusterClient // the client, when in cluster mode
	secrets []string             // strings removed from every error

	closed atomic.Bool
}

var _ Store = (*Redis)(nil)

// NewRedis validates cfg and builds a client. It does no network I/O: the
// first connection is made by the first operation, so an unreachable Redis
// shows up as operation errors (and in Ping), not here. Errors never contain
// the password.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	u, err := cfg.validate()
	if err != nil {
		return nil, redact(err, cfg.secrets(nil))
	}
	secrets := cfg.secrets(u)
	client, err := cfg.newClient(u)
	if err != nil {
		return nil, fmt.Errorf("store: invalid redis config: %w", redact(err, secrets))
	}
	r := &Redis{client: client, secrets: secrets}
	r.cluster, _ = client.(*redis.ClusterClient)
	return r, nil
}

// Client returns the underlying go-redis client, for operations the Store
// interface lacks (such as the rate limiter's Lua scripts). Keys used with
// it should come from Key so multi-key scripts stay within one slot. Do not
// close it; close the Redis instead.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// wrap turns a go-redis error into a store error for op, redacting secrets
// and mapping redis.Nil to ErrNotFound and a closed client to ErrClosed.
func (r *Redis) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return ErrNotFound
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("store: redis %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("store: redis %s: %w", op, redact(err, r.secrets))
}

// begin fails fast once the store is closed or ctx is done.
func (r *Redis) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: redis %s: %w", op, err)
	}
	if r.closed.Load() {
		return fmt.Errorf("store: redis %s: %w", op, ErrClosed)
	}
	return nil
}

// onceStringCmd and onceBoolCmd are commands go-redis must not retry. By
// default go-redis retries a command whose reply timed out (standalone:
// MaxRetries times; cluster: up to MaxRedirects times), which would run a
// non-idempotent command twice.
type (
	onceStringCmd struct{ *redis.StringCmd }
	onceBoolCmd   struct{ *redis.BoolCmd }
)

// NoRetry tells go-redis not to retry the command.
func (onceStringCmd) NoRetry() bool { return true }

// NoRetry tells go-redis not to retry the command.
func (onceBoolCmd) NoRetry() bool { return true }

// redisTTL rounds sub-millisecond TTLs up to Redis's 1 ms resolution.
func redisTTL(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	if err := r.begin(ctx, "get"); err != nil {
		return nil, err
	}
	v, err := r.client.Get(ctx, key).Bytes()
	return v, r.wrap("get", err)
}

// GetAlong is Get, sent in one pipeline with the commands along queues on
// it: one round trip for all of them (on a Cluster, go-redis splits the
// pipeline by node and sends the parts in parallel). along is called
// once, with the pipeline and the context it is sent with; its commands
// carry their own replies and errors. GetAlong returns the GET's value or
// error exactly as Get does (ErrNotFound for a missing key).
//
// timeout, when positive, bounds the pipeline (a context deadline on top
// of ctx's, as the rate limiter bounds its own round trips).
//
// Retries: go-redis never resends a pipeline holding a command marked
// NoRetry (as the rate limiter's scripts are). So that a session read is
// tried as often as with Get (once more after a failure, see
// redisMaxRetries), a GET that got no value and no "not found" is sent
// again, on its own, once, bounded by ctx alone.
func (r *Redis) GetAlong(ctx context.Context, key string, timeout time.Duration, along func(ctx context.Context, p redis.Pipeliner)) ([]byte, error) {
	if err := r.begin(ctx, "get"); err != nil {
		return nil, err
	}
	pctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	pipe := r.client.Pipeline()
	get := pipe.Get(pctx, key)
	along(pctx, pipe)
	_, _ = pipe.Exec(pctx) // every command carries its own error
	v, err := get.Bytes()
	if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil && !r.closed.Load() {
		again := onceStringCmd{redis.NewStringCmd(ctx, "get", key)}
		_ = r.client.Process(ctx, again)
		v, err = again.Bytes()
	}
	return v, r.wrap("get", err)
}

// Set implements Store (SET key value PX ttl).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("redis set", ttl); err != nil {
		return err
	}
	if err := r.begin(ctx, "set"); err != nil {
		return err
	}
	return r.wrap("set", r.client.Set(ctx, key, value, redisTTL(ttl)).Err())
}

// SetNX implements Store (SET key value PX ttl NX). It is never retried: a
// retry after a lost reply would find its own record and report false.
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("redis setnx", ttl); err != nil {
		return false, err
	}
	if err := r.begin(ctx, "setnx"); err != nil {
		return false, err
	}
	cmd := onceBoolCmd{redis.NewBoolCmd(ctx, "set", key, value, "px", redisTTL(ttl).Milliseconds(), "nx")}
	_ = r.client.Process(ctx, cmd)
	ok, err := cmd.Result()
	return ok, r.wrap("setnx", err)
}

// GetDel implements Store (GETDEL, Redis 6.2+). It is never retried: a
// retry after a lost reply would find the record already taken.
func (r *Redis) GetDel(ctx context.Context, key string) ([]byte, error) {
	if err := r.begin(ctx, "getdel"); err != nil {
		return nil, err
	}
	cmd := onceStringCmd{redis.NewStringCmd(ctx, "getdel", key)}
	_ = r.client.Process(ctx, cmd)
	v, err := cmd.Bytes()
	return v, r.wrap("getdel", err)
}

// Delete implements Store. On a standalone server or Sentinel it is one DEL;
// on a cluster, where one DEL may only touch one slot, it pipelines one DEL
// per key, which go-redis sends to each key's node.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := r.begin(ctx, "delete"); err != nil {
		return err
	}
	if r.cluster == nil || len(keys) == 1 {
		return r.wrap("delete", r.client.Del(ctx, keys...).Err())
	}
	_, err := r.cluster.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, k)
		}
		return nil
	})
	return r.wrap("delete", err)
}

// Expire implements Store (PEXPIRE).
func (r *Redis) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL("redis expire", ttl); err != nil {
		return false, err
	}
	if err := r.begin(ctx, "expire"); err != nil {
		return false, err
	}
	ok, err := r.client.PExpire(ctx, key, redisTTL(ttl)).Result()
	return ok, r.wrap("expire", err)
}

// Ping implements Store: PING to the server, or to every master of a
// cluster (so a cluster with a failed master does not pass).
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.begin(ctx, "ping"); err != nil {
		return err
	}
	if r.cluster == nil {
		return r.wrap("ping", r.client.Ping(ctx).Err())
	}
	return r.wrap("ping", r.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		return c.Ping(ctx).Err()
	}))
}

// Close implements Store: it closes the client and its connections.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("store: redis close: %w", redact(err, r.secrets))
	}
	return nil
}
