package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return newMemory(t, store.MemoryOptions{SweepInterval: 10 * time.Millisecond})
	})
}

func TestMemoryConformanceBounded(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return newMemory(t, store.MemoryOptions{MaxEntries: 100, SweepInterval: -1})
	})
}

func newMemory(t *testing.T, opts store.MemoryOptions) *store.Memory {
	t.Helper()
	m, err := store.NewMemory(opts)
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// fakeClock is a manually advanced clock for MemoryOptions.Now.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New() }

func TestMemoryFakeClockExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := newMemory(t, store.MemoryOptions{Now: clock.Now, SweepInterval: -1})
	ctx := t.Context()
	if err := m.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		advance time.Duration
		present bool
	}{
		{name: "just set", advance: 0, present: true},
		{name: "1ns before expiry", advance: time.Hour - time.Nanosecond, present: true},
		{name: "at expiry", advance: time.Nanosecond, present: false},
	}
	for _, tc := range tests { // sequential: each step advances the clock
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			_, err := m.Get(ctx, "k")
			if got := err == nil; got != tc.present {
				t.Fatalf("present = %v (err %v), want %v", got, err, tc.present)
			}
		})
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len after reading an expired key = %d, want 0 (removed on read)", n)
	}
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := newMemory(t, store.MemoryOptions{Now: clock.Now, SweepInterval: 5 * time.Millisecond})
	ctx := t.Context()
	for i := range 10 {
		ttl := time.Minute
		if i%2 == 0 {
			ttl = time.Hour
		}
		if err := m.Set(ctx, fmt.Sprint(i), []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow": sweeps run every 5 ms
	for m.Len() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d after sweeps, want 5", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 10 {
		_, err := m.Get(ctx, fmt.Sprint(i))
		if want := i%2 == 0; (err == nil) != want {
			t.Errorf("key %d present = %v, want %v", i, err == nil, want)
		}
	}
}

func TestMemoryEviction(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := newMemory(t, store.MemoryOptions{Now: clock.Now, MaxEntries: 3, SweepInterval: -1})
	ctx := t.Context()
	set := func(k string, ttl time.Duration) {
		t.Helper()
		if err := m.Set(ctx, k, []byte(k), ttl); err != nil {
			t.Fatalf("Set(%s): %v", k, err)
		}
	}
	present := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, err := m.Get(ctx, k); err != nil {
				t.Errorf("Get(%s) = %v, want present", k, err)
			}
		}
	}
	absent := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, err := m.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%s) = %v, want ErrNotFound", k, err)
			}
		}
	}

	set("session", 24*time.Hour)
	set("state", 10*time.Minute)
	set("apikey", time.Hour)
	set("session", 24*time.Hour) // overwriting an existing key evicts nothing
	present("session", "state", "apikey")

	set("new", 2*time.Hour) // full: the soonest to expire ("state") goes
	absent("state")
	present("session", "apikey", "new")

	if ok, err := m.Expire(ctx, "session", time.Minute); !ok || err != nil {
		t.Fatalf("Expire = %v, %v", ok, err)
	}
	if ok, err := m.SetNX(ctx, "newer", []byte("x"), 3*time.Hour); !ok || err != nil {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	absent("session") // its shortened expiry made it the soonest
	present("apikey", "new", "newer")

	clock.Advance(90 * time.Minute) // "apikey" expired: removed before evicting
	set("last", time.Minute)
	present("new", "newer", "last")
	if n := m.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}

func TestMemoryOptionsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    store.MemoryOptions
		wantErr bool
	}{
		{name: "zero value", opts: store.MemoryOptions{}},
		{name: "bounded", opts: store.MemoryOptions{MaxEntries: 1}},
		{name: "no sweep", opts: store.MemoryOptions{SweepInterval: -1}},
		{name: "negative max entries", opts: store.MemoryOptions{MaxEntries: -1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := store.NewMemory(tc.opts)
			if tc.wantErr {
				if err == nil {
					m.Close()
					t.Fatal("NewMemory succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMemory: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

func TestMemoryCloseDuringUse(t *testing.T) {
	t.Parallel()
	m, err := store.NewMemory(store.MemoryOptions{SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ctx := context.Background()
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				k := fmt.Sprint(i, j)
				err := m.Set(ctx, k, []byte("v"), time.Millisecond)
				if err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Set: %v", err)
					return
				}
				_, _ = m.Get(ctx, k)
			}
		})
	}
	time.Sleep(2 * time.Millisecond)
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
}
