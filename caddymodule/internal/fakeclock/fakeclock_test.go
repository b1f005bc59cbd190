package fakeclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	c := New()
	if !c.Now().Equal(Start) {
		t.Fatalf("Now = %v, want %v", c.Now(), Start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(Start); got != 90*time.Second {
		t.Fatalf("advanced by %v", got)
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	c := New()
	if got := <-c.After(0); !got.Equal(Start) {
		t.Fatalf("After(0) = %v, want %v", got, Start)
	}
	ch := c.After(time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.BlockUntilTimers(2)
	}()
	late := c.After(2 * time.Minute)
	<-done
	c.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("timer fired before its time")
	default:
	}
	c.Advance(time.Second)
	if got := <-ch; !got.Equal(Start.Add(time.Minute)) {
		t.Fatalf("timer fired at %v", got)
	}
	if n := c.Timers(); n != 1 {
		t.Fatalf("pending timers = %d, want 1", n)
	}
	c.Set(Start.Add(time.Hour))
	<-late
	if n := c.Timers(); n != 0 {
		t.Fatalf("pending timers = %d, want 0", n)
	}
}
