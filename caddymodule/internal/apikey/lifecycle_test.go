package apikey

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestLifecycle runs create, show, list, revoke and rotate on every store.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			st := b.open(t)
			r := newTestRegistry(t, RegistryOptions{Store: st, StorePrefix: uniquePrefix(t), Now: clock.Now})
			c := ctx(t)
			expires := clock.Now().Add(90 * 24 * time.Hour)
			k, rec, err := r.Create(c, CreateOptions{Subject: "ci-bot", Name: "deploys", Scopes: []string{"orders:read", "orders:write"}, Expires: expires, RateLimit: "100/1m"})
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID != k.ID || rec.Subject != "ci-bot" || !rec.Expires.Equal(expires) || !rec.Created.Equal(clock.Now()) {
				t.Fatalf("Create record = %+v", rec)
			}
			clock.Advance(time.Second)
			other, _, err := r.Create(c, CreateOptions{Subject: "reporting"})
			if err != nil {
				t.Fatal(err)
			}

			// Only the hash is stored.
			raw, err := st.Get(c, r.keys.record(k.ID))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), k.Secret) || !strings.Contains(string(raw), r.hasher.Hash(k.String())) {
				t.Fatalf("stored record holds the secret or lacks the hash: %s", raw)
			}
			if b.redis {
				checkTTL(t, st, r.keys.record(k.ID), 90*24*time.Hour+DefaultRetention)
				checkTTL(t, st, r.keys.record(other.ID), DefaultIdleTTL)
			}

			shown, err := r.Show(c, k.ID)
			if err != nil || shown.Name != "deploys" || shown.RateLimit != "100/1m" || !slices.Equal(shown.Scopes, rec.Scopes) {
				t.Fatalf("Show = %+v, %v", shown, err)
			}
			all, err := r.List(c, "")
			if err != nil || len(all) != 2 || all[0].ID != k.ID || all[1].ID != other.ID {
				t.Fatalf("List all = %v, %v; want both keys, oldest first", ids(all), err)
			}
			mine, err := r.List(c, "ci-bot")
			if err != nil || len(mine) != 1 || mine[0].ID != k.ID {
				t.Fatalf("List ci-bot = %v, %v", ids(mine), err)
			}

			// Rotation: the old key works during the grace, then not.
			clock.Advance(time.Minute)
			nk, nrec, err := r.Rotate(c, k.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if nk.ID == k.ID || nrec.Subject != "ci-bot" || !slices.Equal(nrec.Scopes, rec.Scopes) || nrec.RateLimit != "100/1m" || !nrec.Expires.Equal(expires) {
				t.Fatalf("rotated record = %+v", nrec)
			}
			old, _ := r.Show(c, k.ID)
			if old.ReplacedBy != nk.ID || !old.GraceUntil.Equal(clock.Now().Add(time.Hour)) {
				t.Fatalf("old record after rotation = %+v", old)
			}
			if b.redis {
				checkTTL(t, st, r.keys.record(k.ID), time.Hour+DefaultRetention)
			}
			if _, _, err := r.Rotate(c, k.ID, time.Hour); err == nil || !strings.Contains(err.Error(), "already rotated") {
				t.Fatalf("second rotation: %v, want already rotated", err)
			}
			for _, key := range []Key{k, nk} {
				if _, err := r.Verify(c, key.String()); err != nil {
					t.Fatalf("during the grace, key %s: %v", key.ID, err)
				}
			}
			clock.Advance(time.Hour)
			if _, err := r.Verify(c, k.String()); !errors.Is(err, ErrRotated) {
				t.Fatalf("old key after the grace: %v, want ErrRotated", err)
			}
			if _, err := r.Verify(c, nk.String()); err != nil {
				t.Fatalf("new key after the grace: %v", err)
			}

			// Revocation, idempotent; a revoked key cannot be rotated.
			for range 2 {
				rv, err := r.Revoke(c, other.ID)
				if err != nil || !rv.Revoked {
					t.Fatalf("Revoke = %+v, %v", rv, err)
				}
			}
			if b.redis {
				checkTTL(t, st, r.keys.record(other.ID), DefaultRetention)
			}
			if _, _, err := r.Rotate(c, other.ID, 0); !errors.Is(err, ErrRevoked) {
				t.Fatalf("rotating a revoked key: %v, want ErrRevoked", err)
			}

			// Expiry.
			clock.Advance(90 * 24 * time.Hour)
			if _, err := r.Verify(c, nk.String()); !errors.Is(err, ErrExpired) {
				t.Fatalf("after expiry: %v, want ErrExpired", err)
			}
			if _, _, err := r.Rotate(c, nk.ID, 0); !errors.Is(err, ErrExpired) {
				t.Fatalf("rotating an expired key: %v, want ErrExpired", err)
			}

			missing := mustKey(t).ID
			if _, err := r.Show(c, missing); !errors.Is(err, ErrUnknown) {
				t.Fatalf("Show(missing) = %v, want ErrUnknown", err)
			}
			if _, err := r.Revoke(c, missing); !errors.Is(err, ErrUnknown) {
				t.Fatalf("Revoke(missing) = %v, want ErrUnknown", err)
			}
			if _, err := r.Show(c, "bad id"); err == nil {
				t.Fatal("Show accepted a malformed id")
			}
		})
	}
}

// TestConcurrentCreates: creates racing on several instances all land in
// the index.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			prefix := uniquePrefix(t)
			regs := []*Registry{
				newTestRegistry(t, RegistryOptions{Store: b.open(t), StorePrefix: prefix}),
				newTestRegistry(t, RegistryOptions{Store: b.open(t), StorePrefix: prefix}),
			}
			c := ctx(t)
			const n = 40
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				created []string
			)
			for i := range n {
				wg.Go(func() {
					_, rec, err := regs[i%2].Create(c, CreateOptions{Subject: fmt.Sprintf("s%d", i%3)})
					if err != nil {
						t.Errorf("Create %d: %v", i, err)
						return
					}
					mu.Lock()
					created = append(created, rec.ID)
					mu.Unlock()
				})
			}
			wg.Wait()
			listed, err := regs[0].List(c, "")
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(created)
			got := ids(listed)
			slices.Sort(got)
			if len(created) != n || !slices.Equal(got, created) {
				t.Fatalf("List has %d ids, %d were created; missing from the index: %v", len(got), len(created), missingFrom(created, got))
			}
		})
	}
}

// TestListPrunesExpiredRecords: ids whose record the store expired leave
// the index on the next List.
func TestListPrunesExpiredRecords(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, err := store.NewMemory(store.MemoryOptions{Now: clock.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now, Retention: time.Hour})
	c := ctx(t)
	short, _, err := r.Create(c, CreateOptions{Subject: "s", Expires: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := r.Create(c, CreateOptions{Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2*time.Hour + time.Second) // expiry + retention
	got, err := r.List(c, "")
	if err != nil || len(got) != 1 || got[0].ID != long.ID {
		t.Fatalf("List = %v, %v; want only %s", ids(got), err, long.ID)
	}
	members, err := r.idx.members(c)
	if err != nil || slices.Contains(members, short.ID) {
		t.Fatalf("index = %v, %v; want %s pruned", members, err, short.ID)
	}
}

func TestCreateRejects(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	tests := []struct {
		name string
		opts CreateOptions
		want string
	}{
		{name: "no subject", opts: CreateOptions{}, want: "subject"},
		{name: "bad scope", opts: CreateOptions{Subject: "s", Scopes: []string{`a"b`}}, want: "scope"},
		{name: "past expiry", opts: CreateOptions{Subject: "s", Expires: clock.Now()}, want: "not in the future"},
		{name: "bad rate limit", opts: CreateOptions{Subject: "s", RateLimit: "lots"}, want: "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := r.Create(ctx(t), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestLifecycleRefusesStaticKeys: keys of the configuration are changed
// there only.
func TestLifecycleRefusesStaticKeys(t *testing.T) {
	t.Parallel()
	h := NewHasher(nil)
	k := mustKey(t)
	set, err := NewSet("pcl", h, []Record{{ID: k.ID, Hash: h.Hash(k.String()), Subject: "s"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Static: set, Store: mem, Hasher: h})
	c := ctx(t)
	if _, err := r.Revoke(c, k.ID); !errors.Is(err, ErrStatic) {
		t.Errorf("Revoke = %v, want ErrStatic", err)
	}
	if _, _, err := r.Rotate(c, k.ID, 0); !errors.Is(err, ErrStatic) {
		t.Errorf("Rotate = %v, want ErrStatic", err)
	}
	if _, err := r.Show(c, k.ID); !errors.Is(err, ErrStatic) {
		t.Errorf("Show = %v, want ErrStatic", err)
	}
}

func TestRecordTTL(t *testing.T) {
	t.Parallel()
	now := newClock().Now()
	const ret, idle = 7 * 24 * time.Hour, 400 * 24 * time.Hour
	tests := []struct {
		name string
		rec  storedRecord
		want time.Duration
	}{
		{name: "never expires", rec: storedRecord{}, want: idle},
		{name: "expires", rec: storedRecord{Expires: now.Add(time.Hour)}, want: time.Hour + ret},
		{name: "revoked", rec: storedRecord{Revoked: true, RevokedAt: now, Expires: now.Add(time.Hour)}, want: ret},
		{name: "rotated", rec: storedRecord{ReplacedBy: "x", GraceUntil: now.Add(time.Hour)}, want: time.Hour + ret},
		{name: "long gone", rec: storedRecord{Expires: now.Add(-30 * 24 * time.Hour)}, want: minRecordTTL},
	}
	for _, tt := range tests {
		if got := tt.rec.ttl(now, ret, idle); got != tt.want {
			t.Errorf("%s: ttl = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// checkTTL asserts the Redis TTL of key is within a minute below want.
func checkTTL(t *testing.T, st store.Store, key string, want time.Duration) {
	t.Helper()
	got, err := st.(*store.Redis).Client().PTTL(ctx(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got > want || got < want-time.Minute {
		t.Errorf("TTL of %s = %v, want about %v", key, got, want)
	}
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func missingFrom(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}
