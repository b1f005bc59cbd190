package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisTimeout bounds one Allow's Redis round trip.
const DefaultRedisTimeout = 50 * time.Millisecond

// DefaultRedisPrefix is the key prefix of RedisOptions.
const DefaultRedisPrefix = "pcl"

// RedisOptions configures NewRedis. The zero value is ready to use.
type RedisOptions struct {
	// Prefix starts every key, before the hash tag:
	// "<prefix>:{rl:<zone>:<hash>}". Default DefaultRedisPrefix ("pcl");
	// it must not contain "{" or "}".
	Prefix string
	// Timeout bounds the Redis round trip of one Allow (a context
	// deadline, on top of the caller's). Default DefaultRedisTimeout
	// (50ms).
	Timeout time.Duration
	// KeySecret, if set, makes bucket keys HMAC-SHA-256(KeySecret, key)
	// instead of SHA-256(key), so that hashes of guessable keys (IPv4
	// addresses) cannot be reversed by whoever reads Redis. Every replica
	// MUST use the same secret; changing it starts every bucket afresh.
	KeySecret []byte
	// BreakerThreshold is the number of consecutive failed round trips
	// that opens the circuit breaker. Default DefaultBreakerThreshold (5).
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one
	// request probes Redis again. Default DefaultBreakerCooldown (1s).
	BreakerCooldown time.Duration
	// DenyCacheSize, if positive, enables the local deny cache with room
	// for about that many buckets: a bucket Redis refused is remembered
	// until a cost-1 request would pass again, and requests Redis would
	// refuse meanwhile are refused locally, without a round trip (Source
	// SourceDenyCache). Default 0 (disabled, as is a negative size);
	// 10000 is a fair size (about 100 bytes per entry).
	DenyCacheSize int
	// Now is the local clock, used only by the breaker and the deny cache
	// (buckets use the Redis server's clock). Default time.Now.
	Now func() time.Time
	// Observer receives refusals, Redis errors and latencies, and breaker
	// transitions.
	Observer Observer
}

// Redis is a Limiter whose buckets live in Redis (standalone, Sentinel or
// Cluster), shared by every replica and exact across them.
//
// Each bucket is one key, "<prefix>:{rl:<zone>:<hash>}", where hash is the
// first 128 bits of SHA-256 (or HMAC-SHA-256, see KeySecret) of the
// request's key in hex: no raw user id or IP reaches Redis, key length is
// bounded, and the hash tag puts each bucket in one Cluster slot. It holds
// the bucket's TAT and expires when the bucket is full again. One Lua
// script per bucket (gcra.lua, run with EVALSHA, then EVAL after NOSCRIPT)
// decides atomically with the server's clock; all buckets of one Allow go
// in one pipeline, so one round trip (Cluster: one per node, in parallel).
// A caller can send those commands in a pipeline of its own, together
// with other commands of the same request, through a Batch (Begin).
//
// Retries: the script commands are marked NoRetry, so go-redis never sends
// one twice (a reply lost to a timeout would otherwise charge the bucket
// again); an event whose reply was lost may have been charged once.
// Cluster MOVED and ASK redirects are still followed: the node that
// redirects did not run the script.
//
// Several zones: the zones of one request usually live in different slots,
// so they cannot be decided by one atomic script. Redis charges every zone
// that admits, in the one round trip; if another zone refused, a second
// round trip refunds those charges (also one script per bucket). Between
// the two, a concurrent request may see the refunded zones a little
// fuller than they are; if the refund fails, the charge stays (the error
// is reported). Requests for one zone, and refusals from the deny cache,
// never need a refund.
//
// Failures: see Limiter.Allow, OnError and the circuit breaker (State).
// Redis is safe for concurrent use and holds no goroutines; it does not
// own the client.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	secret  []byte
	now     func() time.Time
	obs     Observer
	breaker *breaker
	deny    *denyCache
	keys    *keyCache
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter on client, which must honour context
// deadlines (go-redis option ContextTimeoutEnabled, as the store package
// sets it). It does no I/O.
func NewRedis(client redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	if client == nil {
		return nil, errors.New("ratelimit: redis limiter needs a client")
	}
	r := &Redis{
		client:  client,
		prefix:  opts.Prefix,
		timeout: opts.Timeout,
		secret:  bytes.Clone(opts.KeySecret),
		now:     opts.Now,
		obs:     opts.Observer,
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if err := checkPrefix(r.prefix); err != nil {
		return nil, err
	}
	if r.timeout == 0 {
		r.timeout = DefaultRedisTimeout
	}
	threshold, cooldown := opts.BreakerThreshold, opts.BreakerCooldown
	if threshold == 0 {
		threshold = DefaultBreakerThreshold
	}
	if cooldown == 0 {
		cooldown = DefaultBreakerCooldown
	}
	switch {
	case r.timeout < 0:
		return nil, fmt.Errorf("ratelimit: redis timeout %v is negative", r.timeout)
	case threshold < 0 || threshold > 1<<20:
		return nil, fmt.Errorf("ratelimit: breaker threshold %d must be between 1 and %d", threshold, 1<<20)
	case cooldown < 0:
		return nil, fmt.Errorf("ratelimit: breaker cooldown %v is negative", cooldown)
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.breaker = newBreaker(threshold, cooldown, r.now, opts.Observer.OnStateChange)
	r.deny = newDenyCache(opts.DenyCacheSize, r.now)
	r.keys = newKeyCache()
	return r, nil
}

// State returns the circuit breaker's state, for a health gauge.
func (r *Redis) State() State { return r.breaker.State() }

// Allow implements Limiter; see Redis for how. It is one Batch whose
// pipeline holds only its own commands.
func (r *Redis) Allow(ctx context.Context, reqs []Request) ([]Result, error) {
	b, err := r.Begin(reqs)
	if err != nil {
		return nil, err
	}
	if b.NeedsRedis() {
		rctx, cancel := context.WithTimeout(ctx, r.timeout)
		pipe := r.client.Pipeline()
		b.Queue(rctx, pipe)
		_, _ = pipe.Exec(rctx) // every command carries its own error
		cancel()
	}
	return b.Finish(ctx)
}

// fromDenyCache fills out and reports true when the deny cache knows that
// Redis would refuse a bucket of reqs: the request is then refused without
// asking Redis, and the other zones are skipped.
func (r *Redis) fromDenyCache(reqs []Request, keys []string, out []Result) bool {
	if r.deny == nil {
		return false
	}
	hit := false
	for i := range reqs {
		if res, ok := r.deny.check(keys[i], &reqs[i]); ok {
			out[i], hit = res, true
			continue
		}
		q := reqs[i].quota()
		out[i] = Result{Zone: reqs[i].Zone.Name, Quota: q, Allowed: true, Source: SourceSkipped, Limit: q.Capacity()}
	}
	return hit
}

// refund gives back the charges of the zones that admitted a request that
// another zone refused, and updates their results. A failed refund leaves
// the charge (and the results) as they are.
func (r *Redis) refund(ctx context.Context, reqs []Request, keys []string, out []Result) {
	var idx []int
	for i := range out {
		if out[i].Allowed && out[i].Source == SourceStore {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 || r.breaker.State() != StateClosed {
		return
	}
	replies, err := r.run(ctx, opRefund, reqs, keys, idx)
	r.record(ctx, err)
	for n, i := range idx {
		r.deny.forget(keys[i]) // if refused twice in one request
		// A bucket named twice is refunded twice, in order: its state is
		// the last refund's.
		last := i
		for _, j := range idx[n+1:] {
			if keys[j] == keys[i] {
				last = j
			}
		}
		if replies[last].err == nil {
			// Remaining with this request's quota (the last may override).
			reset := replies[last].cell.resetAfter
			q := reqs[i].quota()
			iv := intervalMicros(q.Rate)
			out[i].Remaining = int(max(int64(q.Capacity())*iv-reset, 0) / iv)
			out[i].ResetAfter = time.Duration(reset) * time.Microsecond
		}
	}
}

// record feeds the breaker and the observer with the outcome of a round
// trip. A round trip cut short by the caller's context says nothing about
// Redis and is not counted.
func (r *Redis) record(ctx context.Context, err error) {
	switch {
	case err == nil:
		r.breaker.success()
	case callerDone(ctx):
	default:
		r.breaker.failure(err)
		r.obs.redisError(err)
	}
}

// callerDone reports whether the caller's context has ended: cancelled, or
// past its deadline (a read that timed out at the deadline may return
// before the context notices).
func callerDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
