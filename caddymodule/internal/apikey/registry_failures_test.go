package apikey

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestRegistryStoreDown: stored keys answer ErrUnavailable (which the
// adapter does not count as a failed check); static keys keep working.
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
	r := newTestRegistry(t, RegistryOptions{Static: set, Store: cs, Now: clock.Now})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(MaxCacheTTL)
	cs.down.Store(true)
	for range 5 {
		if _, err := r.Verify(c, k.String()); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("store down: %v, want ErrUnavailable", err)
		}
	}
	if _, err := r.Verify(c, static.String()); err != nil {
		t.Fatalf("static key with the store down: %v", err)
	}
	cs.down.Store(false)
	if _, err := r.Verify(c, k.String()); err != nil {
		t.Fatalf("store back: %v", err)
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
			if _, err := r.Verify(context.Background(), key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
