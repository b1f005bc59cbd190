package ratelimit_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit/ratelimittest"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// relaxedTimeout replaces the 50 ms default in tests about behaviour
// rather than latency: long enough to mean "hung", never merely "slow"
// on a loaded machine running -race. The outage tests use the default.
const relaxedTimeout = 10 * time.Second

// newMiniredis starts a miniredis whose TIME, and key expiry, follow clock
// (nil: real time for TIME; keys then never expire, which GCRA does not
// need).
func newMiniredis(t *testing.T, clock *ratelimittest.Clock) *miniredis.Miniredis {
	t.Helper()
	mr := miniredis.RunT(t)
	if clock != nil {
		mr.SetTime(clock.Now())
		clock.OnAdvance(func(now time.Time, d time.Duration) {
			mr.SetTime(now)
			mr.FastForward(d)
		})
	}
	return mr
}

// miniredisClient returns a go-redis client for mr, closed at the end.
func miniredisClient(t *testing.T, mr *miniredis.Miniredis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1, ReadTimeout: miniredisTimeout})
	t.Cleanup(func() { c.Close() })
	return c
}

// storeClient returns the client of a store.Redis for cfg (with relaxed
// read and write timeouts), as the adapter will pass it, closed at the end.
func storeClient(t testing.TB, cfg store.RedisConfig) redis.UniversalClient {
	t.Helper()
	cfg.ReadTimeout, cfg.WriteTimeout = relaxedTimeout, relaxedTimeout
	st, err := store.NewRedis(cfg)
	if err != nil {
		t.Fatalf("store.NewRedis: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st.Client()
}

// newLimiter returns a Redis limiter on client.
func newLimiter(t *testing.T, client redis.UniversalClient, opts ratelimit.RedisOptions) *ratelimit.Redis {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = relaxedTimeout
	}
	l, err := ratelimit.NewRedis(client, opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return l
}

// denyCacheVariants runs each conformance suite without and with the
// local deny cache.
var denyCacheVariants = []struct {
	name string
	size int
}{{"NoDenyCache", 0}, {"DenyCache", 1000}}

// miniredisTimeout bounds a miniredis round trip: miniredis runs one
// command at a time through an interpreted Lua, so 30 concurrent workers
// under -race queue for seconds on a busy machine.
const miniredisTimeout = 20 * time.Second

func TestMiniredisConformance(t *testing.T) {
	t.Parallel()
	for _, v := range denyCacheVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ratelimittest.Run(t, ratelimittest.Harness{
				New: func(t *testing.T, clock *ratelimittest.Clock) ratelimit.Limiter {
					opts := ratelimit.RedisOptions{DenyCacheSize: v.size, Timeout: miniredisTimeout}
					if clock != nil {
						opts.Now = clock.Now
					}
					return newLimiter(t, miniredisClient(t, newMiniredis(t, clock)), opts)
				},
			})
		})
	}
}

func TestRedisStandaloneConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	for _, v := range denyCacheVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ratelimittest.Run(t, ratelimittest.Harness{
				ServerClock: true,
				New: func(t *testing.T, _ *ratelimittest.Clock) ratelimit.Limiter {
					client := storeClient(t, store.RedisConfig{URL: srv.URL()})
					return newLimiter(t, client, ratelimit.RedisOptions{DenyCacheSize: v.size})
				},
			})
		})
	}
}

func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	c := redistest.SharedCluster(t)
	for _, v := range denyCacheVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ratelimittest.Run(t, ratelimittest.Harness{
				ServerClock: true,
				New: func(t *testing.T, _ *ratelimittest.Clock) ratelimit.Limiter {
					client := storeClient(t, store.RedisConfig{Addrs: c.Addrs(), Cluster: true})
					return newLimiter(t, client, ratelimit.RedisOptions{DenyCacheSize: v.size})
				},
			})
		})
	}
}
