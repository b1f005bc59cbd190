package apikey

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestGuardBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    GuardOptions
		fails   []time.Duration // offsets of failures from the start
		checkAt time.Duration
		refused time.Duration // expected RetryAfter; 0: allowed
	}{
		{name: "under budget", opts: GuardOptions{MaxFailures: 3}, fails: []time.Duration{0, time.Second}, checkAt: 2 * time.Second},
		{name: "budget used", opts: GuardOptions{MaxFailures: 3}, fails: []time.Duration{0, time.Second, 2 * time.Second}, checkAt: 2 * time.Second, refused: DefaultCooldown},
		{name: "cool-down rounds up", opts: GuardOptions{MaxFailures: 1, Cooldown: 1500 * time.Millisecond}, fails: []time.Duration{0}, checkAt: 100 * time.Millisecond, refused: 2 * time.Second},
		{name: "cool-down over", opts: GuardOptions{MaxFailures: 1, Cooldown: time.Minute}, fails: []time.Duration{0}, checkAt: time.Minute},
		{name: "window restarts", opts: GuardOptions{MaxFailures: 3, Window: time.Minute}, fails: []time.Duration{0, time.Second, 61 * time.Second}, checkAt: 62 * time.Second},
		{name: "disabled", opts: GuardOptions{MaxFailures: -1}, fails: []time.Duration{0, 1, 2, 3, 4, 5}, checkAt: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			start := clock.Now()
			tt.opts.Now = clock.Now
			g, err := NewGuard(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range tt.fails {
				clock.Advance(start.Add(at).Sub(clock.Now()))
				g.Fail("192.0.2.1")
			}
			clock.Advance(start.Add(tt.checkAt).Sub(clock.Now()))
			err = g.Check("192.0.2.1")
			var tm *TooManyFailuresError
			switch {
			case tt.refused == 0 && err != nil:
				t.Fatalf("Check = %v, want allowed", err)
			case tt.refused != 0 && (!errors.As(err, &tm) || tm.RetryAfter != tt.refused):
				t.Fatalf("Check = %v, want refused with RetryAfter %v", err, tt.refused)
			}
			if err := g.Check("192.0.2.2"); err != nil {
				t.Fatalf("another client: %v", err)
			}
		})
	}
}

// TestGuardBounded: memory stays bounded, and when full the guard
// forgets clients that are not refused before those that are.
func TestGuardBounded(t *testing.T) {
	t.Parallel()
	clock := newClock()
	g, err := NewGuard(GuardOptions{MaxFailures: 2, MaxClients: 4, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g.Fail("attacker")
	g.Fail("attacker") // refused from now on
	for i := range 100 {
		g.Fail(fmt.Sprintf("198.51.100.%d", i))
	}
	if n := g.Len(); n != 4 {
		t.Fatalf("guard tracks %d clients, want 4", n)
	}
	if err := g.Check("attacker"); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("a churn of other clients made the guard forget a refused one: %v", err)
	}
}

func TestGuardRejectsOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []GuardOptions{{Window: -1}, {Cooldown: -1}, {MaxClients: -1}} {
		if _, err := NewGuard(o); err == nil {
			t.Errorf("NewGuard(%+v) accepted", o)
		}
	}
}

func TestTooManyFailuresErrorText(t *testing.T) {
	t.Parallel()
	err := error(&TooManyFailuresError{RetryAfter: 3 * time.Second})
	if !errors.Is(err, ErrTooManyFailures) || err.Error() != "apikey: too many failed key checks from this client; retry in 3s" {
		t.Fatalf("error = %q", err)
	}
}
