package ratelimit_test

import (
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
