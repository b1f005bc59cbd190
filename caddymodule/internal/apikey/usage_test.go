package apikey

import (
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestLastUsedBatching: checks write nothing to the store; a flush
// writes each used key once with the latest time; Close flushes too.
func TestLastUsedBatching(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			cs := &countingStore{Store: b.open(t)}
			prefix := uniquePrefix(t)
			r := newTestRegistry(t, RegistryOptions{Store: cs, StorePrefix: prefix, Now: clock.Now})
			c := ctx(t)
			k1, _, err := r.Create(c, CreateOptions{Subject: "a"})
			if err != nil {
				t.Fatal(err)
			}
			k2, _, err := r.Create(c, CreateOptions{Subject: "b"})
			if err != nil {
				t.Fatal(err)
			}
			unused, _, err := r.Create(c, CreateOptions{Subject: "c"})
			if err != nil {
				t.Fatal(err)
			}
			before := cs.recordSets.Load()
			for i := range 500 {
				clock.Advance(time.Millisecond)
				for _, k := range []Key{k1, k2} {
					if _, err := r.Verify(c, k.String()); err != nil {
						t.Fatalf("check %d: %v", i, err)
					}
				}
			}
			last := clock.Now()
			if n := cs.recordSets.Load() - before; n != 0 {
				t.Fatalf("1000 checks wrote %d records, want 0", n)
			}
			if n := r.Pending(); n != 2 {
				t.Fatalf("Pending = %d, want 2", n)
			}
			if err := r.Flush(c); err != nil {
				t.Fatal(err)
			}
			if n := cs.recordSets.Load() - before; n != 2 {
				t.Fatalf("flush wrote %d records, want 2 (one per used key)", n)
			}
			for _, k := range []Key{k1, k2} {
				rec, err := r.Show(c, k.ID)
				if err != nil || !rec.LastUsed.Equal(last) {
					t.Fatalf("LastUsed of %s = %v, %v; want %v", k.ID, rec.LastUsed, err, last)
				}
			}
			if rec, _ := r.Show(c, unused.ID); !rec.LastUsed.IsZero() {
				t.Fatalf("unused key has LastUsed %v", rec.LastUsed)
			}
			if err := r.Flush(c); err != nil {
				t.Fatal(err)
			}
			if n := cs.recordSets.Load() - before; n != 2 {
				t.Fatalf("a flush with nothing pending wrote %d more records", n-2)
			}

			// Close writes what is pending.
			clock.Advance(time.Minute)
			if _, err := r.Verify(c, k1.String()); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if rec, _ := r.Show(c, k1.ID); !rec.LastUsed.Equal(clock.Now()) {
				t.Fatalf("after Close, LastUsed = %v, want %v", rec.LastUsed, clock.Now())
			}
		})
	}
}

// TestLastUsedDoesNotUndoRevocation: a flush racing a revocation on
// another instance never brings the key back.
func TestLastUsedDoesNotUndoRevocation(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	a := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	other := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	c := ctx(t)
	k, _, err := a.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(c, k.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(c, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(c); err != nil {
		t.Fatal(err)
	}
	rec, err := a.Show(c, k.ID)
	if err != nil || !rec.Revoked || rec.LastUsed.IsZero() {
		t.Fatalf("after revoke then flush: %+v, %v; want revoked with a last-used time", rec, err)
	}
}

// TestFlushLoop: the background loop writes without an explicit Flush.
func TestFlushLoop(t *testing.T) {
	t.Parallel()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Store: mem, FlushInterval: 20 * time.Millisecond})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(c, k.String()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow": the loop flushes every 20 ms
	for {
		rec, err := r.Show(c, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.LastUsed.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flush loop did not write the last-used time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
