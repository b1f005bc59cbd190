package ratelimit

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
)

// fakeClock is a manually advanced clock.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New() }

// breakerLog records transitions.
type breakerLog struct {
	mu  sync.Mutex
	got []string
}

func (l *breakerLog) record(from, to State, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := from.String() + "->" + to.String()
	if err != nil {
		s += " (" + err.Error() + ")"
	}
	l.got = append(l.got, s)
}

func (l *breakerLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	log := &breakerLog{}
	b := newBreaker(3, time.Second, clock.Now, log.record)
	boom := errors.New("boom")
	expect := func(step string, state State, transitions ...string) {
		t.Helper()
		if b.State() != state {
			t.Fatalf("%s: state %v, want %v", step, b.State(), state)
		}
		if got := log.list(); !slices.Equal(got, transitions) {
			t.Fatalf("%s: transitions %q, want %q", step, got, transitions)
		}
	}

	// Failures interrupted by a success do not open it.
	for range 2 {
		b.failure(boom)
	}
	b.success()
	for range 2 {
		b.failure(boom)
	}
	expect("2+2 failures", StateClosed)
	b.failure(boom)
	expect("3 in a row", StateOpen, "closed->open (boom)")
	for range 10 {
		if b.allow() {
			t.Fatal("open breaker allowed a round trip")
		}
		b.failure(boom) // late failures of earlier round trips
	}
	expect("while open", StateOpen, "closed->open (boom)")

	// Half-open admits one probe at a time.
	clock.Advance(time.Second)
	if !b.allow() {
		t.Fatal("no probe after the cooldown")
	}
	if b.allow() {
		t.Fatal("a second probe while the first is out")
	}
	b.failure(boom)
	expect("failed probe", StateOpen, "closed->open (boom)", "open->half_open", "half_open->open (boom)")
	clock.Advance(999 * time.Millisecond)
	if b.allow() {
		t.Fatal("probe before the cooldown")
	}
	clock.Advance(time.Millisecond)
	if !b.allow() {
		t.Fatal("no probe after the second cooldown")
	}
	// A probe that never reports back is replaced after a cooldown.
	clock.Advance(time.Second)
	if !b.allow() {
		t.Fatal("a lost probe blocks the breaker")
	}
	b.success()
	expect("probe succeeded", StateClosed, "closed->open (boom)", "open->half_open", "half_open->open (boom)", "open->half_open", "half_open->closed")
	if !b.allow() {
		t.Fatal("closed breaker refused")
	}
	// The count starts afresh after closing.
	b.failure(boom)
	b.failure(boom)
	expect("two failures after closing", StateClosed, "closed->open (boom)", "open->half_open", "half_open->open (boom)", "open->half_open", "half_open->closed")
}

// TestBreakerConcurrent hammers the breaker from many goroutines: it opens
// exactly once and every transition is reported in order.
// TestBreakerReleasedProbe: a probe whose round trip said nothing about
// Redis (never sent, its caller gone) is released, so the next round
// trip probes at once instead of after another cooldown; a release once
// the probe's outcome moved the breaker changes nothing.
func TestBreakerReleasedProbe(t *testing.T) {
	clock := newFakeClock()
	log := &breakerLog{}
	b := newBreaker(1, time.Second, clock.Now, log.record)
	if ok, probe := b.admit(); !ok || probe {
		t.Fatalf("closed: admit = %v, %v; want a round trip that is no probe", ok, probe)
	}
	b.release() // closed: nothing to release
	b.failure(errors.New("boom"))
	clock.Advance(time.Second)
	if ok, probe := b.admit(); !ok || !probe {
		t.Fatalf("after the cooldown: admit = %v, %v; want the probe", ok, probe)
	}
	if ok, _ := b.admit(); ok {
		t.Fatal("a second probe while the first is out")
	}
	b.release()
	if ok, probe := b.admit(); !ok || !probe {
		t.Fatalf("after a release: admit = %v, %v; want a new probe at once", ok, probe)
	}
	b.success()
	b.release() // the outcome closed the breaker: nothing to release
	if b.State() != StateClosed {
		t.Fatalf("state %v after the probe's success and a release", b.State())
	}
	if got := log.list(); !slices.Equal(got, []string{"closed->open (boom)", "open->half_open", "half_open->closed"}) {
		t.Fatalf("transitions %v", got)
	}
}

func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var opened atomic.Int32
	b := newBreaker(5, time.Second, clock.Now, func(from, to State, err error) {
		if to == StateOpen {
			opened.Add(1)
		}
	})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 1000 {
				if b.allow() {
					b.failure(errors.New("down"))
				}
			}
		})
	}
	wg.Wait()
	if opened.Load() != 1 || b.State() != StateOpen {
		t.Fatalf("opened %d times, state %v; want once, open", opened.Load(), b.State())
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[State]string{StateClosed: "closed", StateOpen: "open", StateHalfOpen: "half_open", 7: "state(7)"} {
		if s.String() != want {
			t.Errorf("State(%d).String() = %q, want %q", int32(s), s.String(), want)
		}
	}
}
