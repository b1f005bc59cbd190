package ratelimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit/ratelimittest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	ratelimittest.Run(t, ratelimittest.Harness{
		New: func(t *testing.T, clock *ratelimittest.Clock) ratelimit.Limiter {
			opts := ratelimit.MemoryOptions{}
			if clock != nil {
				opts.Now = clock.Now
			}
			return ratelimit.NewMemory(opts)
		},
	})
}

// TestMemoryExpires checks that state is dropped once buckets are full
// again, so memory stays bounded by the keys active within one window.
func TestMemoryExpires(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	z := ratelimit.Zone{Name: "z", Rate: ratelimit.Rate{Count: 1, Period: time.Second}, Burst: 4}
	allow := func(key string) {
		t.Helper()
		if _, err := m.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: key}}); err != nil {
			t.Fatal(err)
		}
	}
	peak := 0
	for round := range 60 {
		for i := range 1000 {
			allow(string(rune('a'+round%26)) + string(rune(i)))
		}
		peak = max(peak, m.Len())
		clock.Advance(z.Quota().Window()) // every bucket of this round is full again
	}
	if peak > 2*1000+4096 {
		t.Fatalf("memory held %d keys at its peak; want at most twice the 1000 live ones plus 4096", peak)
	}
	t.Logf("peak %d keys for 1000 live and 60000 used", peak)
}

// TestMemoryChargeSurvivesSweep: a request for a new bucket and an
// existing one whose state is stale (its TAT passed) charges both, even
// when adding the new bucket sweeps the shard that holds the other.
// Every request names bucket b/x, so every sweep of x's shard happens in
// one of them, with x's TAT just passed.
func TestMemoryChargeSurvivesSweep(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	a := ratelimit.Zone{Name: "a", Rate: ratelimit.Rate{Count: 1, Period: time.Hour}}
	b := ratelimit.Zone{Name: "b", Rate: ratelimit.Rate{Count: 1, Period: time.Hour}}
	for i := range 10000 {
		rs, err := m.Allow(t.Context(), []ratelimit.Request{{Zone: a, Key: strconv.Itoa(i)}, {Zone: b, Key: "x"}})
		if err != nil || !ratelimit.Allowed(rs) {
			t.Fatalf("round %d: %+v, %v", i, rs, err)
		}
		rs, err = m.Allow(t.Context(), []ratelimit.Request{{Zone: b, Key: "x"}})
		if err != nil || rs[0].Allowed {
			t.Fatalf("round %d: b/x admitted twice within its interval: the first charge was lost", i)
		}
		clock.Advance(time.Hour)
	}
}

// TestMemoryAllowInto: AllowInto decides as Allow does, into the
// caller's slice, and refuses a slice of another length.
func TestMemoryAllowInto(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	z := ratelimit.Zone{Name: "z", Rate: ratelimit.Rate{Count: 1, Period: time.Second}, Burst: 1}
	reqs := []ratelimit.Request{{Zone: z, Key: "k"}}
	var out [1]ratelimit.Result
	for i, want := range []bool{true, true, false} {
		if err := m.AllowInto(reqs, out[:]); err != nil || out[0].Allowed != want || out[0].Zone != "z" || out[0].Limit != 2 {
			t.Fatalf("request %d: %+v, %v; want allowed %v", i, out[0], err, want)
		}
	}
	if err := m.AllowInto(reqs, nil); err == nil {
		t.Fatal("AllowInto accepted a results slice of another length")
	}
	if err := m.AllowInto([]ratelimit.Request{{Zone: z}}, out[:]); err == nil {
		t.Fatal("AllowInto accepted a request without a key")
	}
}
