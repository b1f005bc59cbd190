package ratelimit_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit/ratelimittest"
)

func TestNewRedisOptions(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { client.Close() })
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   ratelimit.RedisOptions
		ok     bool
	}{
		{"defaults", client, ratelimit.RedisOptions{}, true},
		{"everything set", client, ratelimit.RedisOptions{Prefix: "app:v2", Timeout: time.Second, BreakerThreshold: 1, BreakerCooldown: time.Minute, DenyCacheSize: 10}, true},
		{"no client", nil, ratelimit.RedisOptions{}, false},
		{"brace in prefix", client, ratelimit.RedisOptions{Prefix: "a{b"}, false},
		{"space in prefix", client, ratelimit.RedisOptions{Prefix: "a b"}, false},
		{"negative timeout", client, ratelimit.RedisOptions{Timeout: -1}, false},
		{"negative threshold", client, ratelimit.RedisOptions{BreakerThreshold: -1}, false},
		{"negative cooldown", client, ratelimit.RedisOptions{BreakerCooldown: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := ratelimit.NewRedis(tt.client, tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRedis = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && l.State() != ratelimit.StateClosed {
				t.Errorf("new limiter's breaker is %v", l.State())
			}
		})
	}
}

// TestRedisDenyCache checks that a client hammering past its limit costs
// one round trip per refill, not one per request.
func TestRedisDenyCache(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1_900_000_000, 0))
	rec := &recorder{}
	l := newLimiter(t, miniredisClient(t, newMiniredis(t, clock)), ratelimit.RedisOptions{
		DenyCacheSize: 100, Now: clock.Now, Observer: rec.observer(),
	})
	z := zone(t, "z", "10/1s", 0) // one per 100ms
	if _, err := l.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: "warm"}}); err != nil {
		t.Fatal(err) // loads the script (EVALSHA, then EVAL)
	}
	req := []ratelimit.Request{{Zone: z, Key: "k"}}
	for round := range 3 {
		_, _, before := rec.counts()
		for i := range 50 {
			rs, err := l.Allow(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := ratelimit.SourceDenyCache
			if i < 2 {
				want = ratelimit.SourceStore
			}
			if rs[0].Allowed != (i == 0) || rs[0].Source != want {
				t.Fatalf("round %d request %d: %+v, want allowed=%v from %v", round, i, rs[0], i == 0, want)
			}
		}
		if _, _, after := rec.counts(); after-before != 2 {
			t.Errorf("round %d: %d round trips for 50 requests, want 2", round, after-before)
		}
		clock.Advance(100 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.refused[z.Name+"/store"] != 3 || rec.refused[z.Name+"/deny_cache"] != 3*48 {
		t.Errorf("refusals reported: %v", rec.refused)
	}
}

// TestRedisMatchesMemory replays one random workload on Memory and on the
// Lua script (miniredis) with the same manual clock: every result must be
// identical, refunds included.
func TestRedisMatchesMemory(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1_900_000_000, 0))
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	red := newLimiter(t, miniredisClient(t, newMiniredis(t, clock)), ratelimit.RedisOptions{Now: clock.Now})
	zones := []ratelimit.Zone{
		zone(t, "a", "10/1s", 0),
		zone(t, "b", "3/1s", 4), // 333.333ms: the script rounds to 333333µs
		zone(t, "c", "100/1m", 20),
		zone(t, "d", "7/10ms", 2),
	}
	over := &ratelimit.Quota{Rate: ratelimit.Rate{Count: 50, Period: time.Second}, Burst: 9}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 300 {
		n := 1 + rng.IntN(3)
		var reqs []ratelimit.Request
		for range n {
			z := zones[rng.IntN(len(zones))]
			r := ratelimit.Request{Zone: z, Key: fmt.Sprint("k", rng.IntN(3))}
			if rng.IntN(5) == 0 {
				r.Override = over
			}
			q := z.Quota()
			if r.Override != nil {
				q = *r.Override
			}
			r.Cost = 1 + rng.IntN(q.Capacity())
			if z.Name == zones[1].Name && r.Override == nil {
				r.Cost = 1 // keep clear of the rounding of 333.333ms
			}
			reqs = append(reqs, r)
		}
		want, err := mem.Allow(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := red.Allow(t.Context(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.Allowed != w.Allowed || g.Remaining != w.Remaining || !near(g.RetryAfter, w.RetryAfter) || !near(g.ResetAfter, w.ResetAfter) {
				t.Fatalf("step %d request %d (%s cost %d): redis %+v, memory %+v", step, i, reqs[i].Zone.Name, reqs[i].Cost, g, w)
			}
		}
		clock.Advance(time.Duration(rng.IntN(200_000)) * time.Microsecond)
	}
}

// near compares durations to the microsecond, the script's unit (memory
// keeps nanoseconds; 333.333333ms intervals differ by a fraction).
func near(a, b time.Duration) bool {
	d := a - b
	return d > -10*time.Microsecond && d < 10*time.Microsecond
}
