// Package lockouttest is a conformance suite for lockout.Store
// implementations. Call Run from a test of each implementation:
//
//	func TestMemoryConformance(t *testing.T) {
//		lockouttest.Run(t, func(t *testing.T) lockout.Store {
//			return lockout.NewMemory(lockout.MemoryOptions{})
//		})
//	}
//
// newStore is called once per subtest (subtests run in parallel). Stores
// may share a backend: every Run uses its own random client names. The
// suite passes the time to every call (a Store takes the caller's
// clock), so nothing waits and no result depends on the machine's speed.
package lockouttest

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
)

// opTimeout bounds one call: "hung", never merely "slow".
const opTimeout = 30 * time.Second

// base is the suite's "now" at the start of each case.
var base = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// env is one case's store and client names.
type env struct {
	t      *testing.T
	st     lockout.Store
	prefix string
}

// client returns a client name unique to the run and case.
func (e *env) client(name string) string { return e.prefix + "/" + e.t.Name() + "/" + name }

// fail records one failure of c at base+at.
func (e *env) fail(c string, at time.Duration, p lockout.Policy) lockout.Status {
	e.t.Helper()
	ctx, cancel := withTimeout(e.t)
	defer cancel()
	s, err := e.st.Fail(ctx, c, base.Add(at), p)
	if err != nil {
		e.t.Fatalf("Fail(%v): %v", at, err)
	}
	return s
}

// status returns c's standing at base+at.
func (e *env) status(c string, at time.Duration) lockout.Status {
	e.t.Helper()
	ctx, cancel := withTimeout(e.t)
	defer cancel()
	s, err := e.st.Status(ctx, c, base.Add(at))
	if err != nil {
		e.t.Fatalf("Status(%v): %v", at, err)
	}
	return s
}

// Run runs the conformance suite; see the package doc.
func Run(t *testing.T, newStore func(t *testing.T) lockout.Store) {
	prefix := "lockouttest-" + rand.Text()[:10]
	cases := []struct {
		name string
		fn   func(e *env)
	}{
		{"UnderLimit", testUnderLimit},
		{"LockoutAtLimit", testLockoutAtLimit},
		{"FailuresWhileLocked", testFailuresWhileLocked},
		{"WindowRestarts", testWindowRestarts},
		{"NotProgressive", testNotProgressive},
		{"Progressive", testProgressive},
		{"SeriesForgotten", testSeriesForgotten},
		{"ClientsIndependent", testClientsIndependent},
		{"Concurrent", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(&env{t: t, st: newStore(t), prefix: prefix})
		})
	}
}

// policy is the suite's usual policy: 3 failures a minute, 10s lockouts.
func policy(progressive bool) lockout.Policy {
	return lockout.Policy{Limit: 3, Window: time.Minute, Lockout: 10 * time.Second, Progressive: progressive, MaxLockout: 40 * time.Second}
}

func testUnderLimit(e *env) {
	c, p := e.client("c"), policy(false)
	for i := range p.Limit - 1 {
		if s := e.fail(c, time.Duration(i)*time.Second, p); s.Locked != 0 || s.Started {
			e.t.Fatalf("failure %d: %+v, want not locked", i+1, s)
		}
	}
	if s := e.status(c, 5*time.Second); s.Locked != 0 {
		e.t.Fatalf("status under the limit: %+v", s)
	}
	if s := e.status(e.client("never-failed"), 0); s != (lockout.Status{}) {
		e.t.Fatalf("status of an unknown client: %+v", s)
	}
}

func testLockoutAtLimit(e *env) {
	c, p := e.client("c"), policy(false)
	e.fail(c, 0, p)
	e.fail(c, time.Second, p)
	s := e.fail(c, 2*time.Second, p)
	if s.Locked != p.Lockout || !s.Started || s.Strike != 1 {
		e.t.Fatalf("the limit-th failure: %+v, want locked for %v, started, strike 1", s, p.Lockout)
	}
	if s := e.status(c, 5*time.Second); s.Locked != 7*time.Second || s.Started {
		e.t.Fatalf("3s into the lockout: %+v, want 7s left", s)
	}
	if s := e.status(c, 12*time.Second); s.Locked != 0 {
		e.t.Fatalf("when the lockout ends: %+v, want not locked", s)
	}
}

func testFailuresWhileLocked(e *env) {
	c, p := e.client("c"), policy(false)
	for i := range p.Limit {
		e.fail(c, time.Duration(i)*time.Millisecond, p)
	}
	for i := range 10 {
		s := e.fail(c, time.Second+time.Duration(i)*time.Millisecond, p)
		if s.Started || s.Locked <= 0 || s.Locked > p.Lockout {
			e.t.Fatalf("a failure while locked out: %+v, want the running lockout, not a new one", s)
		}
	}
	// Not counted: after the lockout, limit-1 failures do not lock.
	after := p.Lockout + time.Second
	for i := range p.Limit - 1 {
		if s := e.fail(c, after+time.Duration(i)*time.Millisecond, p); s.Locked != 0 {
			e.t.Fatalf("failure %d after the lockout: %+v (failures while locked out were counted)", i+1, s)
		}
	}
}

func testWindowRestarts(e *env) {
	c, p := e.client("c"), policy(false)
	e.fail(c, 0, p)
	e.fail(c, time.Second, p)
	// The window began at 0: these are the first two of a new one.
	if s := e.fail(c, p.Window, p); s.Locked != 0 {
		e.t.Fatalf("first failure of a new window: %+v", s)
	}
	if s := e.fail(c, p.Window+time.Second, p); s.Locked != 0 {
		e.t.Fatalf("second failure of a new window: %+v", s)
	}
	if s := e.fail(c, p.Window+2*time.Second, p); !s.Started {
		e.t.Fatalf("third failure of a new window: %+v, want a lockout", s)
	}
}

// lockAt fails c Limit times from at and returns the last standing.
func (e *env) lockAt(c string, at time.Duration, p lockout.Policy) lockout.Status {
	e.t.Helper()
	var s lockout.Status
	for i := range p.Limit {
		s = e.fail(c, at+time.Duration(i)*time.Millisecond, p)
	}
	if !s.Started {
		e.t.Fatalf("%d failures from %v: %+v, want a lockout", p.Limit, at, s)
	}
	return s
}

func testNotProgressive(e *env) {
	c, p := e.client("c"), policy(false)
	at := time.Duration(0)
	for round := range 3 {
		s := e.lockAt(c, at, p)
		if s.Locked != p.Lockout || s.Strike != 1 {
			e.t.Fatalf("lockout %d: %+v, want %v and strike 1 every time", round+1, s, p.Lockout)
		}
		at += s.Locked + 2*time.Millisecond
	}
}

func testProgressive(e *env) {
	c, p := e.client("c"), policy(true)
	at := time.Duration(0)
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second} {
		s := e.lockAt(c, at, p)
		if s.Locked != want || s.Strike != i+1 {
			e.t.Fatalf("lockout %d: %+v, want %v and strike %d", i+1, s, want, i+1)
		}
		// The next series begins as soon as this lockout ends.
		end := at + time.Duration(p.Limit-1)*time.Millisecond + s.Locked
		if st := e.status(c, end-time.Millisecond); st.Locked != time.Millisecond {
			e.t.Fatalf("lockout %d, 1ms before its end: %+v", i+1, st)
		}
		at = end
	}
}

func testSeriesForgotten(e *env) {
	c, p := e.client("c"), policy(true)
	first := e.lockAt(c, 0, p)
	end := time.Duration(p.Limit-1)*time.Millisecond + first.Locked
	// Just inside the memory (MaxLockout after the end): consecutive.
	second := e.lockAt(c, end+p.MaxLockout-time.Second, p)
	if second.Locked != 2*p.Lockout || second.Strike != 2 {
		e.t.Fatalf("a lockout within the memory: %+v, want %v, strike 2", second, 2*p.Lockout)
	}
	end = end + p.MaxLockout - time.Second + time.Duration(p.Limit-1)*time.Millisecond + second.Locked
	// A full MaxLockout after it ended: a new series.
	third := e.lockAt(c, end+p.MaxLockout, p)
	if third.Locked != p.Lockout || third.Strike != 1 {
		e.t.Fatalf("a lockout after the memory: %+v, want %v, strike 1", third, p.Lockout)
	}
}

func testClientsIndependent(e *env) {
	a, b, p := e.client("a"), e.client("b"), policy(false)
	e.lockAt(a, 0, p)
	if s := e.status(b, time.Second); s.Locked != 0 {
		e.t.Fatalf("b after a's lockout: %+v", s)
	}
	if s := e.fail(b, time.Second, p); s.Locked != 0 {
		e.t.Fatalf("b's first failure: %+v", s)
	}
}

// testConcurrent: failures racing on one client are all counted, and
// exactly one starts the lockout.
func testConcurrent(e *env) {
	const workers, each = 16, 5
	c := e.client("c")
	p := lockout.Policy{Limit: 30, Window: time.Hour, Lockout: time.Hour, MaxLockout: time.Hour}
	var started, locked atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				ctx, cancel := withTimeout(e.t)
				s, err := e.st.Fail(ctx, c, base, p)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if s.Started {
					started.Add(1)
				}
				if s.Locked > 0 {
					locked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatalf("Fail: %v", err)
	}
	total := workers * each
	if started.Load() != 1 || int(locked.Load()) != total-(p.Limit-1) {
		e.t.Fatalf("%d concurrent failures: %d started a lockout and %d saw one, want 1 and %d",
			total, started.Load(), locked.Load(), total-(p.Limit-1))
	}
}

// withTimeout returns a context bounded by opTimeout.
func withTimeout(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), opTimeout)
}
