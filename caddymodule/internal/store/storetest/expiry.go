package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const (
	// shortTTL is long enough that a value is still there when read back
	// right after writing, even on a loaded machine, and long against
	// Redis's millisecond TTL resolution.
	shortTTL = 1100 * time.Millisecond
	// expiryWait is how long the checks wait for shortTTL records to expire.
	expiryWait = shortTTL + 300*time.Millisecond
)

// expiryCase is one expiry check: setup runs first, then (for all cases
// together) the suite waits expiryWait, then check runs.
type expiryCase struct {
	name  string
	setup func(t *testing.T, st store.Store, key string)
	check func(t *testing.T, st store.Store, key string)
}

var expiryCases = []expiryCase{
	{
		name: "Get after ttl",
		setup: func(t *testing.T, st store.Store, k string) {
			mustSet(t, st, k, []byte("v"), shortTTL)
			wantValue(t, st, k, []byte("v"))
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name:  "GetDel after ttl",
		setup: func(t *testing.T, st store.Store, k string) { mustSet(t, st, k, []byte("v"), shortTTL) },
		check: func(t *testing.T, st store.Store, k string) {
			if v, err := st.GetDel(ctx(t), k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetDel after ttl = %q, %v; want ErrNotFound", v, err)
			}
		},
	},
	{
		name: "SetNX after ttl",
		setup: func(t *testing.T, st store.Store, k string) {
			if ok, err := st.SetNX(ctx(t), k, []byte("old"), shortTTL); err != nil || !ok {
				t.Fatalf("SetNX = %v, %v; want true", ok, err)
			}
		},
		check: func(t *testing.T, st store.Store, k string) {
			if ok, err := st.SetNX(ctx(t), k, []byte("new"), longTTL); err != nil || !ok {
				t.Fatalf("SetNX after ttl = %v, %v; want true", ok, err)
			}
			wantValue(t, st, k, []byte("new"))
		},
	},
	{
		name:  "Expire after ttl",
		setup: func(t *testing.T, st store.Store, k string) { mustSet(t, st, k, []byte("v"), shortTTL) },
		check: func(t *testing.T, st store.Store, k string) {
			if ok, err := st.Expire(ctx(t), k, longTTL); err != nil || ok {
				t.Fatalf("Expire after ttl = %v, %v; want false", ok, err)
			}
			wantMissing(t, st, k)
		},
	},
	{
		name: "Expire extends",
		setup: func(t *testing.T, st store.Store, k string) {
			mustSet(t, st, k, []byte("v"), shortTTL)
			if ok, err := st.Expire(ctx(t), k, longTTL); err != nil || !ok {
				t.Fatalf("Expire = %v, %v; want true", ok, err)
			}
		},
		check: func(t *testing.T, st store.Store, k string) { wantValue(t, st, k, []byte("v")) },
	},
	{
		name: "Expire shortens",
		setup: func(t *testing.T, st store.Store, k string) {
			mustSet(t, st, k, []byte("v"), longTTL)
			if ok, err := st.Expire(ctx(t), k, shortTTL); err != nil || !ok {
				t.Fatalf("Expire = %v, %v; want true", ok, err)
			}
			wantValue(t, st, k, []byte("v"))
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name: "Set resets ttl",
		setup: func(t *testing.T, st store.Store, k string) {
			mustSet(t, st, k, []byte("short"), shortTTL)
			mustSet(t, st, k, []byte("long"), longTTL)
		},
		check: func(t *testing.T, st store.Store, k string) { wantValue(t, st, k, []byte("long")) },
	},
	{
		name: "SetNX on live key keeps ttl",
		setup: func(t *testing.T, st store.Store, k string) {
			mustSet(t, st, k, []byte("v"), shortTTL)
			if ok, err := st.SetNX(ctx(t), k, []byte("other"), longTTL); err != nil || ok {
				t.Fatalf("SetNX on a live key = %v, %v; want false", ok, err)
			}
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name:  "sub-millisecond ttl",
		setup: func(t *testing.T, st store.Store, k string) { mustSet(t, st, k, []byte("v"), time.Microsecond) },
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
}

// testExpiry sets up every expiry case, waits once for the short TTLs to
// pass, then checks every case, so the suite sleeps only once.
func (s *suite) testExpiry(t *testing.T) {
	st := s.newStore(t)
	key := func(c expiryCase) string { return s.key(t, "ttl", c.name) }
	ready := make([]bool, len(expiryCases))
	for i, c := range expiryCases {
		ready[i] = t.Run("setup "+c.name, func(t *testing.T) { c.setup(t, st, key(c)) })
	}
	time.Sleep(expiryWait)
	for i, c := range expiryCases {
		t.Run(c.name, func(t *testing.T) {
			if !ready[i] {
				t.Fatal("setup failed")
			}
			c.check(t, st, key(c))
		})
	}
}
