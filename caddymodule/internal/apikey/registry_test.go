package apikey

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestRegistryVerify checks every verification outcome on every store,
// for stored and static keys.
func TestRegistryVerify(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			h := NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))
			static := mustKey(t)
			set, err := NewSet("pcl", h, []Record{{ID: static.ID, Hash: h.Hash(static.String()), Subject: "static-bot"}}, clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestRegistry(t, RegistryOptions{Static: set, Store: b.open(t), Hasher: h, StorePrefix: uniquePrefix(t), Now: clock.Now})
			c := ctx(t)
			create := func(o CreateOptions) Key {
				t.Helper()
				k, _, err := r.Create(c, o)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				return k
			}
			good := create(CreateOptions{Subject: "ci-bot", Name: "CI", Scopes: []string{"orders:read"}, RateLimit: "100/1m"})
			expiring := create(CreateOptions{Subject: "temp", Expires: clock.Now().Add(time.Hour)})
			revoked := create(CreateOptions{Subject: "gone"})
			if _, err := r.Revoke(c, revoked.ID); err != nil {
				t.Fatal(err)
			}
			rotated := create(CreateOptions{Subject: "old"})
			if _, _, err := r.Rotate(c, rotated.ID, 0); err != nil {
				t.Fatal(err)
			}
			unknown := mustKey(t)
			wrongSecret := Key{Prefix: "pcl", ID: good.ID, Secret: unknown.Secret}
			clock.Advance(2 * time.Hour)

			tests := []struct {
				name    string
				key     string
				want    error
				subject string
			}{
				{name: "stored", key: good.String(), subject: "ci-bot"},
				{name: "static", key: static.String(), subject: "static-bot"},
				{name: "expired", key: expiring.String(), want: ErrExpired},
				{name: "revoked", key: revoked.String(), want: ErrRevoked},
				{name: "rotated without grace", key: rotated.String(), want: ErrRotated},
				{name: "unknown id", key: unknown.String(), want: ErrUnknown},
				{name: "right id wrong secret", key: wrongSecret.String(), want: ErrUnknown},
				{name: "static id wrong secret", key: Key{Prefix: "pcl", ID: static.ID, Secret: unknown.Secret}.String(), want: ErrUnknown},
				{name: "malformed", key: "pcl_nope", want: ErrMalformed},
			}
			for _, tt := range tests {
				rec, err := r.Verify(c, tt.key)
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: Verify error = %v, want %v", tt.name, err, tt.want)
					continue
				}
				if err == nil && rec.Subject != tt.subject {
					t.Errorf("%s: subject = %q, want %q", tt.name, rec.Subject, tt.subject)
				}
				if err != nil && len(tt.key) > 20 && strings.Contains(err.Error(), tt.key[17:]) {
					t.Errorf("%s: error text contains the secret", tt.name)
				}
			}
			rec, _ := r.Verify(c, good.String())
			if rec.ID != good.ID || rec.Name != "CI" || rec.RateLimit != "100/1m" || len(rec.Scopes) != 1 || rec.Created.IsZero() {
				t.Errorf("record = %+v, want the created fields", rec)
			}
			if !errors.Is(ErrRotated, ErrRevoked) {
				t.Error("ErrRotated does not match ErrRevoked")
			}
		})
	}
}

// TestRegistryRevocationReachesOtherInstance: a revocation on one
// instance is refused by another sharing the store within CacheTTL, with
// a fake clock (exact) and with real time on real Redis.
func TestRegistryRevocationReachesOtherInstance(t *testing.T) {
	t.Parallel()
	t.Run("fake clock", func(t *testing.T) {
		t.Parallel()
		for _, b := range backends(t) {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				clock, prefix := newClock(), uniquePrefix(t)
				a := newTestRegistry(t, RegistryOptions{Store: b.open(t), StorePrefix: prefix, Now: clock.Now})
				other := newTestRegistry(t, RegistryOptions{Store: b.open(t), StorePrefix: prefix, Now: clock.Now})
				c := ctx(t)
				k, _, err := a.Create(c, CreateOptions{Subject: "s"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.Verify(c, k.String()); err != nil {
					t.Fatalf("other instance before revocation: %v", err)
				}
				if _, err := a.Revoke(c, k.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Verify(c, k.String()); !errors.Is(err, ErrRevoked) {
					t.Fatalf("revoking instance: %v, want ErrRevoked at once", err)
				}
				clock.Advance(MaxCacheTTL)
				if _, err := other.Verify(c, k.String()); !errors.Is(err, ErrRevoked) {
					t.Fatalf("other instance %v later: %v, want ErrRevoked", MaxCacheTTL, err)
				}
			})
		}
	})
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) store.RedisConfig
	}{
		{"real time standalone", func(t *testing.T) store.RedisConfig {
			return store.RedisConfig{URL: redistest.SharedStandalone(t).URL()}
		}},
		{"real time cluster", func(t *testing.T) store.RedisConfig {
			return store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			open, prefix := redisOpener(tc.cfg(t)), uniquePrefix(t)
			a := newTestRegistry(t, RegistryOptions{Store: open(t), StorePrefix: prefix})
			other := newTestRegistry(t, RegistryOptions{Store: open(t), StorePrefix: prefix})
			c := ctx(t)
			k, _, err := a.Create(c, CreateOptions{Subject: "s"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Verify(c, k.String()); err != nil {
				t.Fatalf("before revocation: %v", err)
			}
			if _, err := a.Revoke(c, k.ID); err != nil {
				t.Fatal(err)
			}
			// The other instance cached the key before the revocation
			// was stored, so any check that starts MaxCacheTTL after it
			// must refuse the key. Checks are judged by when they start,
			// not by how long the loop ran, so a slow machine cannot fail
			// this, only a cache kept too long.
			revoked := time.Now()
			for {
				began := time.Now()
				_, err := other.Verify(c, k.String())
				if errors.Is(err, ErrRevoked) {
					break
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if late := began.Sub(revoked); late >= MaxCacheTTL {
					t.Fatalf("other instance still accepts the key in a check that began %v after the revocation", late)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestRegistryCache: repeated checks of one key, or of one unknown id,
// read the store once per TTL; a key created elsewhere works once the
// negative entry has expired.
func TestRegistryCache(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{Store: mem}
	prefix := uniquePrefix(t)
	r := newTestRegistry(t, RegistryOptions{Store: cs, StorePrefix: prefix, Now: clock.Now})
	creator := newTestRegistry(t, RegistryOptions{Store: mem, StorePrefix: prefix, Now: clock.Now})
	c := ctx(t)
	k, _, err := creator.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if _, err := r.Verify(c, k.String()); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.recordGets.Load(); n != 1 {
		t.Fatalf("1000 checks of one key read the store %d times, want 1", n)
	}

	// An id nobody has created yet: cached as unknown, then found.
	future := mustKey(t)
	for range 1000 {
		if _, err := r.Verify(c, future.String()); !errors.Is(err, ErrUnknown) {
			t.Fatalf("unknown id: %v", err)
		}
	}
	if n := cs.recordGets.Load(); n != 2 {
		t.Fatalf("1000 checks of one unknown id read the store %d times in all, want 2", n)
	}
	writeRecord(t, creator, future, "late")
	clock.Advance(MaxCacheTTL / 2)
	if _, err := r.Verify(c, future.String()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("within the negative TTL: %v, want the cached ErrUnknown", err)
	}
	clock.Advance(MaxCacheTTL / 2)
	if rec, err := r.Verify(c, future.String()); err != nil || rec.Subject != "late" {
		t.Fatalf("after the negative TTL: %+v, %v; want the new key accepted", rec, err)
	}
}

// TestRegistryCacheBounded: the cache never holds more than CacheSize
// unknown ids, whatever the number tried, and they do not evict records.
func TestRegistryCacheBounded(t *testing.T) {
	t.Parallel()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{Store: mem}
	r := newTestRegistry(t, RegistryOptions{Store: cs, CacheSize: 50, Now: newClock().Now})
	c := ctx(t)
	k, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(c, k.String()); err != nil {
		t.Fatal(err)
	}
	reads := cs.recordGets.Load()
	for range 500 {
		if _, err := r.Verify(c, mustKey(t).String()); !errors.Is(err, ErrUnknown) {
			t.Fatal(err)
		}
	}
	if found, missing := r.cache.len(); found != 1 || missing != 50 {
		t.Fatalf("cache holds %d records and %d unknown ids, want 1 and 50", found, missing)
	}
	if _, err := r.Verify(c, k.String()); err != nil {
		t.Fatal(err)
	}
	if n := cs.recordGets.Load() - reads; n != 500 {
		t.Fatalf("%d store reads, want 500 (one per made-up id, none for the real key still cached)", n)
	}
}

// TestNewRegistryRejects covers option checks.
func TestNewRegistryRejects(t *testing.T) {
	t.Parallel()
	set, _ := NewSet("pcl", NewHasher(nil), nil, nil)
	tests := []struct {
		name string
		opts RegistryOptions
		want string
	}{
		{name: "cache ttl", opts: RegistryOptions{CacheTTL: 2 * time.Second}, want: "cache TTLs"},
		{name: "negative ttl", opts: RegistryOptions{NegativeTTL: -1}, want: "cache TTLs"},
		{name: "prefix", opts: RegistryOptions{Prefix: "P"}, want: "prefix"},
		{name: "prefix differs from the set", opts: RegistryOptions{Static: set, Prefix: "abc"}, want: "differs"},
		{name: "pepper differs from the set", opts: RegistryOptions{Static: set, Hasher: NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))}, want: "peppers"},
		{name: "store prefix", opts: RegistryOptions{StorePrefix: "a{b"}, want: "braces"},
		{name: "retention", opts: RegistryOptions{Retention: -time.Hour}, want: "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRegistry(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRegistry error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestRegistryWithoutStore: static keys only; lifecycle calls refuse.
func TestRegistryWithoutStore(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t, RegistryOptions{})
	c := ctx(t)
	if _, err := r.Verify(c, mustKey(t).String()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify: %v, want ErrUnknown", err)
	}
	if _, _, err := r.Create(c, CreateOptions{Subject: "s"}); !errors.Is(err, ErrNoStore) {
		t.Fatalf("Create: %v, want ErrNoStore", err)
	}
	if _, err := r.List(c, ""); !errors.Is(err, ErrNoStore) {
		t.Fatalf("List: %v, want ErrNoStore", err)
	}
}

// writeRecord stores a record for an existing key k, as another replica
// creating it would.
func writeRecord(t *testing.T, r *Registry, k Key, subject string) {
	t.Helper()
	s := storedRecord{Version: recordVersion, ID: k.ID, Hash: r.hasher.Hash(k.String()), Subject: subject, Created: r.now()}
	if err := r.put(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	if err := r.idx.add(ctx(t), time.Hour, k.ID); err != nil {
		t.Fatal(err)
	}
}
