package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestDenyCache(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	c := newDenyCache(100, clock.Now)
	z := Zone{Name: "z", Rate: Rate{Count: 10, Period: time.Second}, Burst: 2} // 100ms, three at once
	req := &Request{Zone: z, Key: "k"}
	q := z.Quota()

	if _, ok := c.check("b", req); ok {
		t.Fatal("empty cache refused")
	}
	// Redis refused at the time of sending with the bucket 300ms from
	// full: cost 1 passes in 100ms.
	refusal := Result{Zone: "z", Quota: q, Source: SourceStore, Limit: 3, RetryAfter: 100 * time.Millisecond, ResetAfter: 300 * time.Millisecond}
	c.refuse("b", req, &refusal, clock.Now())
	for _, tt := range []struct {
		after     time.Duration
		cost      int
		refused   bool
		retry     time.Duration
		remaining int
	}{
		{0, 1, true, 100 * time.Millisecond, 0},
		{40 * time.Millisecond, 1, true, 60 * time.Millisecond, 0},
		{40 * time.Millisecond, 3, true, 260 * time.Millisecond, 0},
		{99 * time.Millisecond, 2, true, 101 * time.Millisecond, 0},
		{100 * time.Millisecond, 1, false, 0, 0}, // and the entry expires
		{400 * time.Millisecond, 3, false, 0, 0},
	} {
		name := fmt.Sprintf("after %v cost %d", tt.after, tt.cost)
		now := clock.Now()
		clock.Advance(tt.after)
		r := *req
		r.Cost = tt.cost
		got, ok := c.check("b", &r)
		clock.Set(now)
		if ok != tt.refused {
			t.Fatalf("%s: refused=%v, want %v", name, ok, tt.refused)
		}
		if ok && (got.RetryAfter != tt.retry || got.Remaining != tt.remaining || got.Source != SourceDenyCache || got.Allowed) {
			t.Errorf("%s: %+v, want RetryAfter %v, Remaining %d", name, got, tt.retry, tt.remaining)
		}
	}
	// Once a cost-1 request would pass, the entry is gone.
	if c.len() != 0 {
		t.Fatalf("entry kept after it expired: %d entries", c.len())
	}
	// Admissions and refusals that expire at once are not stored.
	c.refuse("a", req, &Result{Allowed: true, Quota: q, Source: SourceStore, ResetAfter: time.Second}, clock.Now())
	c.refuse("c", req, &Result{Quota: q, Source: SourceStore, ResetAfter: 200 * time.Millisecond}, clock.Now())
	if c.len() != 0 {
		t.Fatalf("%d entries, want 0", c.len())
	}
}

func TestDenyCacheBounded(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	c := newDenyCache(160, clock.Now)
	req := &Request{Zone: Zone{Name: "z", Rate: Rate{Count: 1, Period: time.Minute}}, Key: "k"}
	refusal := Result{Quota: req.quota(), Source: SourceStore, ResetAfter: time.Minute}
	for i := range 10_000 {
		c.refuse(fmt.Sprint("key-", i), req, &refusal, clock.Now())
	}
	if n := c.len(); n > 160 || n < 150 {
		t.Fatalf("%d entries after 10000 refusals, want about 160", n)
	}
	if newDenyCache(0, clock.Now) != nil {
		t.Fatal("size 0 should disable the cache")
	}
	var off *denyCache
	if _, ok := off.check("k", req); ok {
		t.Fatal("a disabled cache refused")
	}
	off.refuse("k", req, &refusal, clock.Now())
	off.forget("k")
}
