// Package ratelimittest is a conformance suite for ratelimit.Limiter
// implementations: the same checks run against Memory, Redis on
// miniredis, and Redis on real standalone and Cluster servers.
//
//	func TestMemoryConformance(t *testing.T) {
//		ratelimittest.Run(t, ratelimittest.Harness{
//			New: func(t *testing.T, clock *ratelimittest.Clock) ratelimit.Limiter {
//				opts := ratelimit.MemoryOptions{}
//				if clock != nil {
//					opts.Now = clock.Now
//				}
//				return ratelimit.NewMemory(opts)
//			},
//		})
//	}
//
// Time: a limiter whose clock the test controls (Harness.ServerClock false)
// gets a Clock for the exact checks, which then hold to the nanosecond, and
// nil (meaning real time) for the concurrency checks. A limiter on a real
// Redis server reads the server's clock (ServerClock true): it always gets
// nil, the suite waits in real time, and every bound widens by what the
// measured elapsed time allows, no more. Rates are slow enough (or waits
// short enough) that a run takes about three seconds.
//
// Subtests run in parallel and may share one store: every Run uses zone
// names under a random prefix, and every subtest its own zones and keys.
package ratelimittest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// Harness says how to build the limiter under test.
type Harness struct {
	// New returns a fresh limiter for one subtest and registers its own
	// cleanup. When clock is non-nil the limiter, and its store, must take
	// the time from it (for miniredis: Clock.OnAdvance); nil means real
	// time.
	New func(t *testing.T, clock *Clock) ratelimit.Limiter
	// ServerClock says the limiter reads a clock the test cannot control
	// (a real Redis server's): New always gets a nil clock.
	ServerClock bool
}

// start is where every manual Clock of the suite starts.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Run runs the conformance suite; see the package doc.
func Run(t *testing.T, h Harness) {
	prefix := "t" + strings.ToLower(rand.Text()[:6])
	tests := []struct {
		name      string
		realTime  bool // needs real time even if the harness has a clock
		clockOnly bool // needs the manual clock: not run with ServerClock
		fn        func(e *env)
	}{
		{"FreshBurst", false, false, testFreshBurst},
		{"Refill", false, false, testRefill},
		{"RetryAfter", false, false, testRetryAfter},
		{"ResetAfter", false, false, testResetAfter},
		{"Cost", false, false, testCost},
		{"Override", false, false, testOverride},
		{"IndependentBuckets", false, false, testIndependentBuckets},
		{"SeveralZones", false, false, testSeveralZones},
		{"SameBucketTwice", false, false, testSameBucketTwice},
		{"InvalidRequests", false, false, testInvalidRequests},
		{"ConcurrentAccuracy", true, false, testConcurrentAccuracy},
		{"ConcurrentKeys", true, false, testConcurrentKeys},
		{"ConcurrentSteps", false, true, testConcurrentSteps},
	}
	for _, tt := range tests {
		if tt.clockOnly && h.ServerClock {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{t: t, zonePrefix: prefix + "-" + strings.ToLower(tt.name)}
			if !h.ServerClock && !tt.realTime {
				e.clock = NewClock(start)
			}
			e.lim = h.New(t, e.clock)
			tt.fn(e)
		})
	}
}

// env is one subtest's limiter and time.
type env struct {
	t          *testing.T
	lim        ratelimit.Limiter
	clock      *Clock // nil: real time
	zonePrefix string
}

// sub returns e for a subtest t (same limiter, clock and zone prefix).
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// zone returns a zone unique to the subtest.
func (e *env) zone(name, rate string, burst int) ratelimit.Zone {
	e.t.Helper()
	r, err := ratelimit.ParseRate(rate)
	if err != nil {
		e.t.Fatal(err)
	}
	z := ratelimit.Zone{Name: e.zonePrefix + "-" + name, Rate: r, Burst: burst}
	if err := z.Validate(); err != nil {
		e.t.Fatal(err)
	}
	return z
}

// allow runs one Allow that must not fail.
func (e *env) allow(reqs ...ratelimit.Request) []ratelimit.Result {
	e.t.Helper()
	rs, err := e.lim.Allow(e.t.Context(), reqs)
	if err != nil {
		e.t.Fatalf("Allow: %v", err)
	}
	if len(rs) != len(reqs) {
		e.t.Fatalf("Allow returned %d results for %d requests", len(rs), len(reqs))
	}
	return rs
}

// one runs a single-zone Allow with cost 1.
func (e *env) one(z ratelimit.Zone, key string) ratelimit.Result {
	e.t.Helper()
	return e.allow(ratelimit.Request{Zone: z, Key: key})[0]
}

// wait lets d pass: on the manual clock, or in real time.
func (e *env) wait(d time.Duration) {
	if e.clock != nil {
		e.clock.Advance(d)
		return
	}
	time.Sleep(d)
}

// stopwatch returns a function reporting the real time elapsed since the
// call, or 0 on a manual clock (where no time passes unless advanced).
func (e *env) stopwatch() func() time.Duration {
	if e.clock != nil {
		return func() time.Duration { return 0 }
	}
	begin := time.Now()
	return func() time.Duration { return time.Since(begin) }
}

// exact reports whether exact values can be expected: on a manual clock,
// or when less than one interval of real time passed.
func exact(elapsed, interval time.Duration) bool { return elapsed < interval }

// checkResult checks the fields every result must get right.
func checkResult(t *testing.T, what string, r ratelimit.Result, z ratelimit.Zone, q ratelimit.Quota) {
	t.Helper()
	if r.Zone != z.Name || r.Quota != q || r.Limit != q.Capacity() {
		t.Errorf("%s: zone %q quota %v limit %d, want %q %v %d", what, r.Zone, r.Quota, r.Limit, z.Name, q, q.Capacity())
	}
	if r.Remaining < 0 || r.Remaining > r.Limit {
		t.Errorf("%s: remaining %d outside [0, %d]", what, r.Remaining, r.Limit)
	}
	if r.Allowed && r.RetryAfter != 0 {
		t.Errorf("%s: allowed with RetryAfter %v", what, r.RetryAfter)
	}
	if !r.Allowed && r.RetryAfter <= 0 && r.Source != ratelimit.SourceOnError {
		t.Errorf("%s: refused with RetryAfter %v", what, r.RetryAfter)
	}
	if r.ResetAfter < 0 || r.ResetAfter > q.Window() {
		t.Errorf("%s: ResetAfter %v outside [0, %v]", what, r.ResetAfter, q.Window())
	}
}
