package apikey

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestVerifiedKeyCacheStored: a stored key verified once is served from
// the verified-key cache, which never accepts what the record (read
// through the record cache, with its refresh) refuses: another hash
// under the id, a revocation, an expiry, the end of a rotation grace, a
// deleted record, or a store that cannot be read.
func TestVerifiedKeyCacheStored(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{Store: mem}
	prefix := uniquePrefix(t)
	h := NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))
	r := newTestRegistry(t, RegistryOptions{Store: cs, StorePrefix: prefix, Hasher: h, Now: clock.Now})
	other := newTestRegistry(t, RegistryOptions{Store: mem, StorePrefix: prefix, Hasher: h, Now: clock.Now})
	c := ctx(t)
	create := func(o CreateOptions) Key {
		t.Helper()
		k, _, err := other.Create(c, o)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	verify := func(k string, want error) {
		t.Helper()
		rec, err := r.Verify(c, k)
		if !errors.Is(err, want) {
			t.Fatalf("Verify = %+v, %v; want %v", rec, err, want)
		}
	}
	cached := func(want int) {
		t.Helper()
		if n := r.verified.len(); n != want {
			t.Fatalf("verified-key cache holds %d keys, want %d", n, want)
		}
	}

	good := create(CreateOptions{Subject: "s"})
	verify(good.String(), nil)
	cached(1)
	// Failures are never cached.
	verify(Key{Prefix: "pcl", ID: good.ID, Secret: mustKey(t).Secret}.String(), ErrUnknown)
	verify(good.String()[:20], ErrMalformed)
	verify(mustKey(t).String(), ErrUnknown)
	cached(1)

	// A hit still notes the use, at the hit's time.
	clock.Advance(time.Millisecond)
	verify(good.String(), nil)
	r.usage.mu.Lock()
	used := r.usage.pending[good.ID]
	r.usage.mu.Unlock()
	if !used.Equal(clock.Now()) {
		t.Fatalf("last use noted at %v, want the hit's time %v", used, clock.Now())
	}

	// Another hash under the same id: the cached key stops matching
	// once the record is read again, and its entry goes.
	swapped := Key{Prefix: "pcl", ID: good.ID, Secret: mustKey(t).Secret}
	writeRecord(t, other, swapped, "swapped")
	verify(good.String(), nil) // the record cache still holds the old record
	clock.Advance(MaxCacheTTL)
	verify(good.String(), ErrUnknown)
	cached(0)
	if rec, err := r.Verify(c, swapped.String()); err != nil || rec.Subject != "swapped" {
		t.Fatalf("the new key: %+v, %v", rec, err)
	}

	// Revoked on another instance: refused once the record is read again.
	revoked := create(CreateOptions{Subject: "s"})
	verify(revoked.String(), nil)
	if _, err := other.Revoke(c, revoked.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(MaxCacheTTL)
	verify(revoked.String(), ErrRevoked)

	// Expiry and the end of a rotation grace are checked on every hit.
	expiring := create(CreateOptions{Subject: "s", Expires: clock.Now().Add(time.Hour)})
	rotated := create(CreateOptions{Subject: "s"})
	verify(expiring.String(), nil)
	verify(rotated.String(), nil)
	if _, _, err := other.Rotate(c, rotated.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(MaxCacheTTL)
	verify(rotated.String(), nil) // within its grace
	clock.Advance(time.Minute)
	verify(rotated.String(), ErrRotated)
	clock.Advance(time.Hour)
	verify(expiring.String(), ErrExpired)

	// A deleted record: unknown.
	deleted := create(CreateOptions{Subject: "s"})
	verify(deleted.String(), nil)
	if err := mem.Delete(c, other.keys.record(deleted.ID)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(MaxCacheTTL)
	verify(deleted.String(), ErrUnknown)

	// The store cannot be read when the record is due for a refresh.
	live := create(CreateOptions{Subject: "s"})
	verify(live.String(), nil)
	cs.down.Store(true)
	clock.Advance(MaxCacheTTL)
	verify(live.String(), ErrUnavailable)
	cs.down.Store(false)
	verify(live.String(), nil)
}

// TestVerifiedKeyCacheStatic: a static key served from the cache is
// still checked against its expiry, on the set's clock.
func TestVerifiedKeyCacheStatic(t *testing.T) {
	t.Parallel()
	clock := newClock()
	h := NewHasher(nil)
	k := mustKey(t)
	set, err := NewSet("pcl", h, []Record{{ID: k.ID, Hash: h.Hash(k.String()), Subject: "bot", Expires: clock.Now().Add(time.Hour)}}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRegistry(t, RegistryOptions{Static: set, Hasher: h})
	c := ctx(t)
	for range 3 {
		if rec, err := r.Verify(c, k.String()); err != nil || rec.Subject != "bot" {
			t.Fatalf("Verify = %+v, %v", rec, err)
		}
	}
	if _, err := r.Verify(c, Key{Prefix: "pcl", ID: k.ID, Secret: mustKey(t).Secret}.String()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("wrong secret: %v", err)
	}
	if n := r.verified.len(); n != 1 {
		t.Fatalf("verified-key cache holds %d keys, want 1", n)
	}
	clock.Advance(time.Hour)
	if _, err := r.Verify(c, k.String()); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: %v, want ErrExpired", err)
	}
}

// TestVerifiedCacheBindsWholeKey: an entry is only ever returned for the
// very key it holds, even when another key lands on its index.
func TestVerifiedCacheBindsWholeKey(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache(100)
	a, b := mustKey(t).String(), mustKey(t).String()
	hb := c.index(b)
	c.put(hb, &verifiedKey{key: a}) // as if a and b collided
	if v := c.get(hb, b); v != nil {
		t.Fatal("a key was served another key's entry")
	}
	c.drop(hb, b) // not b's entry: kept
	if c.len() != 1 {
		t.Fatal("drop removed another key's entry")
	}
	c.put(hb, &verifiedKey{key: b})
	if v := c.get(hb, b); v == nil || v.key != b {
		t.Fatal("missed a cached key")
	}
}

func TestVerifiedCacheBounded(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache(64)
	for range 1000 {
		k := mustKey(t).String()
		c.put(c.index(k), &verifiedKey{key: k})
	}
	if n := c.len(); n > 64 {
		t.Fatalf("cache of 64 holds %d keys", n)
	}
}

// TestVerifiedCachePairs: a third key for a full pair of slots replaces
// one of the two, and each key is found only under its own index.
func TestVerifiedCachePairs(t *testing.T) {
	t.Parallel()
	c := newVerifiedCache(8)
	keys := []string{mustKey(t).String(), mustKey(t).String(), mustKey(t).String()}
	idx := []uint64{0x10, 0x11, 0x8000000000000010} // all in the pair of slots 0 and 1
	for i, k := range keys {
		c.put(idx[i], &verifiedKey{key: k})
		if c.get(idx[i], k) == nil {
			t.Fatalf("key %d missed right after put", i)
		}
	}
	if n := c.len(); n != 2 {
		t.Fatalf("cache holds %d entries, want the pair's 2", n)
	}
	if c.get(idx[0], keys[1]) != nil || c.get(idx[1], keys[0]) != nil {
		t.Fatal("a key was found under another key's index")
	}
}
