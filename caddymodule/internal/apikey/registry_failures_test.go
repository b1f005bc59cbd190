package apikey

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestRegistryStoreDown: stored keys answer ErrUnavailable, which is not
// held against the client; static keys keep working.
func TestRegistryStoreDown(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{Store: mem}
	h := NewHasher(nil)
	static := mustKey(t)
	set, err := NewSet("pcl", h, []Record{{ID: static.ID, Hash: h.Hash(static.String()), Subject: "static"}}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	guard, _ := NewGuard(GuardOptions{MaxFailures: 2, Now: clock.Now})
	r := newTestRegistry(t, RegistryOptions{Static: set, Store: cs, Now: clock.Now, Guard: guard})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(MaxCacheTTL)
	cs.down.Store(true)
	for range 5 {
		if _, err := r.Verify(c, k.String(), "ip"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("store down: %v, want ErrUnavailable", err)
		}
	}
	if _, err := r.Verify(c, static.String(), "ip"); err != nil {
		t.Fatalf("static key with the store down: %v (the client must not be throttled for outages)", err)
	}
	cs.down.Store(false)
	if _, err := r.Verify(c, k.String(), "ip"); err != nil {
		t.Fatalf("store back: %v", err)
	}
}

// TestRegistryGuard: a client that fails too often is refused, even
// with a valid key, until its cool-down ends; the key keeps working from
// other clients, also when the failures named the key's own id.
func TestRegistryGuard(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	guess := Key{Prefix: "pcl", ID: k.ID, Secret: mustKey(t).Secret}.String() // right id, wrong secret
	for i := range DefaultMaxFailures {
		if _, err := r.Verify(c, guess, "198.51.100.7"); !errors.Is(err, ErrUnknown) {
			t.Fatalf("guess %d: %v, want ErrUnknown", i+1, err)
		}
	}
	_, err = r.Verify(c, guess, "198.51.100.7")
	var tm *TooManyFailuresError
	if !errors.Is(err, ErrTooManyFailures) || !errors.As(err, &tm) || tm.RetryAfter != DefaultCooldown {
		t.Fatalf("after the budget: %v, want a TooManyFailuresError with RetryAfter %v", err, DefaultCooldown)
	}
	if _, err := r.Verify(c, k.String(), "203.0.113.9"); err != nil {
		t.Fatalf("the key from another client: %v (the key must not be locked out)", err)
	}
	if _, err := r.Verify(c, k.String(), "198.51.100.7"); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("the key from the throttled client: %v, want ErrTooManyFailures (the client is throttled)", err)
	}
	clock.Advance(DefaultCooldown / 2)
	if _, err := r.Verify(c, k.String(), "198.51.100.7"); !errors.As(err, &tm) || tm.RetryAfter != DefaultCooldown/2 {
		t.Fatalf("half way: %v, want RetryAfter %v", err, DefaultCooldown/2)
	}
	clock.Advance(DefaultCooldown / 2)
	if _, err := r.Verify(c, k.String(), "198.51.100.7"); err != nil {
		t.Fatalf("after the cool-down: %v", err)
	}
	// Expired and revoked keys are the owner's mistake, not guessing.
	if _, err := r.Revoke(c, k.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 * DefaultMaxFailures {
		if _, err := r.Verify(c, k.String(), "192.0.2.50"); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked key: %v, want ErrRevoked every time", err)
		}
	}
}

// BenchmarkRegistryVerify measures the hot path for a stored key: a
// cache hit, the hash comparison and the last-used note.
func BenchmarkRegistryVerify(b *testing.B) {
	mem, _ := store.NewMemory(store.MemoryOptions{})
	defer mem.Close()
	r, err := NewRegistry(RegistryOptions{Store: mem, Hasher: NewHasher([]byte("pepper-pepper-pepper-pepper-1234")), FlushInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	k, _, err := r.Create(b.Context(), CreateOptions{Subject: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	key := k.String()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Verify(context.Background(), key, "192.0.2.1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
