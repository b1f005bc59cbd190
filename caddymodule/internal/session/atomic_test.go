package session

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// testAtomic checks the Atomic implementation of b.
func testAtomic(t *testing.T, b backend) {
	a := AtomicFor(b.open(t))
	ctx := t.Context()
	p := "at-" + fmt.Sprint(time.Now().UnixNano())
	key := store.Key(p, "s", "x")
	if ok, err := a.Swap(ctx, key, []byte("a"), []byte("b"), time.Minute); ok || err != nil {
		t.Fatalf("Swap on a missing key = %v, %v; want false (no revival)", ok, err)
	}
	st := b.open(t)
	if err := st.Set(ctx, key, []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Swap(ctx, key, []byte("z"), []byte("b"), time.Minute); ok || err != nil {
		t.Fatalf("Swap with a stale old value = %v, %v; want false", ok, err)
	}
	if ok, err := a.Swap(ctx, key, []byte("a"), []byte("b"), time.Minute); !ok || err != nil {
		t.Fatalf("Swap = %v, %v; want true", ok, err)
	}
	if v, err := st.Get(ctx, key); err != nil || string(v) != "b" {
		t.Fatalf("after Swap: %q, %v", v, err)
	}
	if err := a.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Swap(ctx, key, []byte("b"), []byte("c"), time.Minute); ok {
		t.Fatal("Swap revived a removed key")
	}
	// Concurrent swaps from the same old value: exactly one wins.
	if err := st.Set(ctx, key, []byte("v0"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if ok, err := a.Swap(ctx, key, []byte("v0"), fmt.Appendf(nil, "v%d", i+1), time.Minute); ok && err == nil {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent swaps won, want 1", wins.Load())
	}

	set := store.Key(p, "su", "y")
	for _, m := range []string{"m1", "m2", "m1"} {
		if err := a.AddMember(ctx, set, m, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Members(ctx, set)
	if err != nil || len(got) != 2 {
		t.Fatalf("Members = %v, %v; want m1, m2", got, err)
	}
	if err := a.RemoveMember(ctx, set, "m1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Members(ctx, set); len(got) != 1 || got[0] != "m2" {
		t.Fatalf("Members after RemoveMember = %v", got)
	}
	if got, err := a.Members(ctx, store.Key(p, "su", "missing")); len(got) != 0 || err != nil {
		t.Fatalf("Members of a missing set = %v, %v", got, err)
	}
	if _, err := a.Swap(ctx, key, nil, nil, 0); err == nil {
		t.Error("Swap with ttl 0 succeeded")
	}
}
