package ratelimittest

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// testFreshBurst: a fresh key is admitted exactly Burst+1 events at once,
// with Remaining counting down, then refused with RetryAfter one interval
// and ResetAfter one window.
func testFreshBurst(e *env) {
	for _, tt := range []struct {
		name  string
		rate  string
		burst int
	}{
		{"burst0", "10/1m", 0},
		{"burst5", "10/1m", 5},
		{"issue-example", "100/10s", 10}, // 11 at once, then 10/s
		{"burst20", "100/1m", 20},
	} {
		e.t.Run(tt.name, func(t *testing.T) {
			e := e.sub(t)
			z := e.zone(tt.name, tt.rate, tt.burst)
			q := z.Quota()
			c, iv := q.Capacity(), q.Rate.Interval()
			elapsed := e.stopwatch()
			var rs []ratelimit.Result
			for range c + 3 {
				rs = append(rs, e.one(z, "k"))
			}
			el := elapsed()
			admitted := 0
			for i, r := range rs {
				checkResult(t, fmt.Sprintf("request %d", i), r, z, q)
				if r.Allowed {
					admitted++
				}
			}
			if hi := c + int(el/iv); admitted < c || admitted > hi {
				t.Fatalf("admitted %d of %d at once, want %d (up to %d after %v)", admitted, len(rs), c, hi, el)
			}
			if !exact(el, iv) {
				return
			}
			for i, r := range rs[:c] {
				if !r.Allowed || r.Remaining != c-1-i {
					t.Errorf("request %d: allowed=%v remaining=%d, want true %d", i, r.Allowed, r.Remaining, c-1-i)
				}
			}
			for i, r := range rs[c:] {
				if r.Allowed || r.Remaining != 0 {
					t.Errorf("request %d: allowed=%v remaining=%d, want refused with 0", c+i, r.Allowed, r.Remaining)
				}
				slack := el
				if r.Source == ratelimit.SourceDenyCache {
					slack *= 2 // the cache's clock starts when the refused request was sent
				}
				within(t, "RetryAfter", r.RetryAfter, iv, slack)
				within(t, "ResetAfter", r.ResetAfter, q.Window(), slack)
			}
		})
	}
}

// within checks got == want on a manual clock, and want-slack < got <= want
// in real time (slack: the time elapsed since the bucket was charged).
func within(t *testing.T, what string, got, want, slack time.Duration) {
	t.Helper()
	if got > want || got < want-slack || (slack > 0 && got == want-slack) {
		t.Errorf("%s = %v, want %v (less at most %v)", what, got, want, slack)
	}
}

// testRefill: after exhausting 100/10s burst 10, one second of waiting
// admits exactly 10 more.
func testRefill(e *env) {
	z := e.zone("z", "100/10s", 10)
	iv := z.Rate.Interval()
	elapsed := e.stopwatch()
	for range z.Burst + 3 {
		e.one(z, "k")
	}
	e.wait(time.Second)
	admitted := 0
	for range 20 {
		if e.one(z, "k").Allowed {
			admitted++
		}
	}
	// In real time the bucket may also have refilled while the requests
	// ran, and before the wait.
	el := elapsed() - time.Second
	if hi := 10 + int(el/iv) + 1; admitted < 10 || admitted > max(hi, 10) || (e.clock != nil && admitted != 10) {
		e.t.Fatalf("after 1s admitted %d, want 10 (up to %d in real time)", admitted, hi)
	}
}

// testRetryAfter: waiting a refusal's RetryAfter is always enough, and
// never much more than needed.
func testRetryAfter(e *env) {
	z := e.zone("z", "20/1s", 1) // one per 50ms, two at once
	q := z.Quota()
	iv := q.Rate.Interval()
	e.one(z, "k")
	e.one(z, "k")
	for round := range 4 {
		r := e.one(z, "k")
		if r.Allowed {
			// Real time only: the bucket refilled since the last charge.
			if e.clock != nil {
				e.t.Fatalf("round %d: admitted, want refused", round)
			}
			continue
		}
		checkResult(e.t, fmt.Sprintf("round %d refusal", round), r, z, q)
		if r.RetryAfter > iv {
			e.t.Fatalf("round %d: RetryAfter %v, want at most %v", round, r.RetryAfter, iv)
		}
		if e.clock != nil && r.RetryAfter != iv {
			e.t.Fatalf("round %d: RetryAfter %v, want %v", round, r.RetryAfter, iv)
		}
		e.wait(r.RetryAfter)
		after := e.one(z, "k")
		if !after.Allowed {
			e.t.Fatalf("round %d: refused after waiting RetryAfter %v (then RetryAfter %v)", round, r.RetryAfter, after.RetryAfter)
		}
		if e.clock != nil && after.Remaining != 0 {
			e.t.Fatalf("round %d: remaining %d, want 0", round, after.Remaining)
		}
	}
	// Costlier requests wait longer: with the bucket empty, cost 2 needs
	// two intervals.
	z = e.zone("cost", "10/1s", 1) // one per 100ms, two at once
	iv = z.Rate.Interval()
	elapsed := e.stopwatch()
	e.one(z, "k")
	e.one(z, "k")
	r := e.allow(ratelimit.Request{Zone: z, Key: "k", Cost: 2})[0]
	if el := elapsed(); r.Allowed && el >= 2*iv {
		return // real time only: the machine is too slow to find it empty
	}
	if r.Allowed || r.RetryAfter > 2*iv || (e.clock != nil && r.RetryAfter != 2*iv) {
		e.t.Fatalf("cost 2 on an empty bucket: allowed=%v RetryAfter %v, want refused, %v", r.Allowed, r.RetryAfter, 2*iv)
	}
	e.wait(r.RetryAfter)
	if r := e.allow(ratelimit.Request{Zone: z, Key: "k", Cost: 2})[0]; !r.Allowed {
		e.t.Fatalf("cost 2 refused after waiting RetryAfter: %+v", r)
	}
}

// testResetAfter: ResetAfter is the time until the bucket is full again.
func testResetAfter(e *env) {
	z := e.zone("z", "50/1s", 4) // one per 20ms, five at once
	q := z.Quota()
	iv := q.Rate.Interval()
	elapsed := e.stopwatch()
	var r ratelimit.Result
	for range 3 {
		r = e.one(z, "k")
	}
	within(e.t, "ResetAfter after 3", r.ResetAfter, 3*iv, elapsed())
	e.wait(r.ResetAfter)
	r = e.one(z, "k")
	if !r.Allowed || r.Remaining != q.Capacity()-1 {
		e.t.Fatalf("after ResetAfter: allowed=%v remaining=%d, want a full bucket (%d left)", r.Allowed, r.Remaining, q.Capacity()-1)
	}
	within(e.t, "ResetAfter after 1", r.ResetAfter, iv, 0)
}

// testCost: a request of cost n counts as n events.
func testCost(e *env) {
	z := e.zone("z", "10/1h", 9) // ten at once
	q := z.Quota()
	iv := q.Rate.Interval()
	for i, tt := range []struct {
		cost      int
		allowed   bool
		remaining int
		retry     time.Duration
	}{
		{4, true, 6, 0},
		{4, true, 2, 0},
		{4, false, 2, 2 * iv},
		{2, true, 0, 0},
		{1, false, 0, iv},
	} {
		r := e.allow(ratelimit.Request{Zone: z, Key: "k", Cost: tt.cost})[0]
		checkResult(e.t, fmt.Sprintf("step %d", i), r, z, q)
		if r.Allowed != tt.allowed || r.Remaining != tt.remaining {
			e.t.Fatalf("step %d (cost %d): allowed=%v remaining=%d, want %v %d", i, tt.cost, r.Allowed, r.Remaining, tt.allowed, tt.remaining)
		}
		if r.RetryAfter > tt.retry || (e.clock != nil && r.RetryAfter != tt.retry) {
			e.t.Fatalf("step %d (cost %d): RetryAfter %v, want %v", i, tt.cost, r.RetryAfter, tt.retry)
		}
	}
}
