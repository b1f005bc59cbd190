package ratelimit_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit/ratelimittest"
)

// TestReview3MemoryNoLostChargeUnderConcurrency: with the clock stopped,
// a bucket of capacity c admits exactly c requests however many
// goroutines race for it through Allow and AllowInto, in requests that
// also name other buckets of the same key (same shard) and the bucket
// twice. A lost in-place update would admit more.
func TestReview3MemoryNoLostChargeUnderConcurrency(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	const capacity = 50
	hot := ratelimit.Zone{Name: "hot", Rate: ratelimit.Rate{Count: 1, Period: time.Hour}, Burst: capacity - 1}
	wide := ratelimit.Zone{Name: "wide", Rate: ratelimit.Rate{Count: 1, Period: time.Second}, Burst: 100000}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				reqs := []ratelimit.Request{{Zone: wide, Key: "k"}, {Zone: hot, Key: "k"}, {Zone: wide, Key: strconv.Itoa(g*1000 + i)}}
				out := make([]ratelimit.Result, len(reqs))
				var err error
				if i%2 == 0 {
					err = m.AllowInto(reqs, out)
				} else {
					out, err = m.Allow(t.Context(), reqs)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if ratelimit.Allowed(out) {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != capacity {
		t.Fatalf("bucket of capacity %d admitted %d requests under concurrency", capacity, n)
	}
}

// TestReview3MemoryBucketsNeverShared: buckets are (zone, key) pairs, so
// zone and key strings that would collide if joined ("a"+":b" and
// "a:"+"b"), keys on one shard, and the same key in two zones each keep
// their own state.
func TestReview3MemoryBucketsNeverShared(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	zone := func(name string) ratelimit.Zone {
		return ratelimit.Zone{Name: name, Rate: ratelimit.Rate{Count: 1, Period: time.Hour}}
	}
	pairs := []ratelimit.Request{
		{Zone: zone("a"), Key: ":b"}, {Zone: zone("a:"), Key: "b"}, {Zone: zone("a"), Key: "b"},
		{Zone: zone("b"), Key: "b"}, {Zone: zone("a"), Key: "b\x00"}, {Zone: zone("a\x00"), Key: "b"},
	}
	for i, r := range pairs {
		out, err := m.Allow(t.Context(), []ratelimit.Request{r})
		if err != nil || !out[0].Allowed {
			t.Fatalf("bucket %d (%q/%q) refused on first use: it shares another's state (%+v, %v)", i, r.Zone.Name, r.Key, out, err)
		}
	}
	for i, r := range pairs {
		out, err := m.Allow(t.Context(), []ratelimit.Request{r})
		if err != nil || out[0].Allowed {
			t.Fatalf("bucket %d (%q/%q) admitted twice within its interval", i, r.Zone.Name, r.Key)
		}
	}
}

// TestReview3MemoryDuplicateNewBucketCharged: a request naming a new
// bucket twice (cost 1 each) charges it twice, even when its insertion
// sweeps the shard.
func TestReview3MemoryDuplicateNewBucketCharged(t *testing.T) {
	t.Parallel()
	clock := ratelimittest.NewClock(time.Unix(1e9, 0))
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	z := ratelimit.Zone{Name: "z", Rate: ratelimit.Rate{Count: 1, Period: time.Hour}, Burst: 2}
	for i := range 5000 {
		k := strconv.Itoa(i)
		out, err := m.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: k}, {Zone: z, Key: k}})
		if err != nil || !ratelimit.Allowed(out) {
			t.Fatalf("key %d: %+v %v", i, out, err)
		}
		out, err = m.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: k}})
		if err != nil || !out[0].Allowed {
			t.Fatalf("key %d: third event of a capacity-3 bucket refused", i)
		}
		out, err = m.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: k}})
		if err != nil || out[0].Allowed {
			t.Fatalf("key %d: fourth event admitted: a duplicate's charge was lost", i)
		}
		if i%1000 == 999 {
			clock.Advance(2 * time.Hour)
		}
	}
}
