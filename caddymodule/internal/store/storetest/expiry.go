package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const (
	// shortTTL is long against Redis's millisecond TTL resolution, and
	// short enough that the suite does not wait long.
	shortTTL = 1100 * time.Millisecond
	// expiryWait is how long the checks wait, after the last setup, for
	// shortTTL records to expire. Waiting longer (a slow machine) changes
	// nothing: the records are gone either way.
	expiryWait = shortTTL + 300*time.Millisecond
	// setupAttempts bounds how often a setup runs again because it took
	// longer than shortTTL.
	setupAttempts = 5
)

// expiryCase is one expiry check: setup runs first, then (for all cases
// together) the suite waits expiryWait, then check runs.
//
// What a setup may expect depends on how fast it ran: a record written
// with shortTTL must still be there only while less than shortTTL has
// passed since the setup began. live reports that, measured when it is
// called (so after the operation it judges returned). A setup asserts
// what needs the record alive only when live(), and returns whether it
// stayed live; one that did not (a busy machine) is run again on a fresh
// key, so no case depends on the machine's speed and none is skipped.
type expiryCase struct {
	name  string
	setup func(t *testing.T, st store.Store, key string, live func() bool) bool
	check func(t *testing.T, st store.Store, key string)
}

var expiryCases = []expiryCase{
	{
		name: "Get after ttl",
		setup: func(t *testing.T, st store.Store, k string, live func() bool) bool {
			mustSet(t, st, k, []byte("v"), shortTTL)
			got, err := st.Get(ctx(t), k)
			if !live() {
				return false
			}
			if err != nil || string(got) != "v" {
				t.Fatalf("Get right after Set = %q, %v; want v", got, err)
			}
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name: "GetDel after ttl",
		setup: func(t *testing.T, st store.Store, k string, _ func() bool) bool {
			mustSet(t, st, k, []byte("v"), shortTTL)
			return true
		},
		check: func(t *testing.T, st store.Store, k string) {
			if v, err := st.GetDel(ctx(t), k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetDel after ttl = %q, %v; want ErrNotFound", v, err)
			}
		},
	},
	{
		name: "SetNX after ttl",
		setup: func(t *testing.T, st store.Store, k string, _ func() bool) bool {
			if ok, err := st.SetNX(ctx(t), k, []byte("old"), shortTTL); err != nil || !ok {
				t.Fatalf("SetNX = %v, %v; want true", ok, err)
			}
			return true
		},
		check: func(t *testing.T, st store.Store, k string) {
			if ok, err := st.SetNX(ctx(t), k, []byte("new"), longTTL); err != nil || !ok {
				t.Fatalf("SetNX after ttl = %v, %v; want true", ok, err)
			}
			wantValue(t, st, k, []byte("new"))
		},
	},
	{
		name: "Expire after ttl",
		setup: func(t *testing.T, st store.Store, k string, _ func() bool) bool {
			mustSet(t, st, k, []byte("v"), shortTTL)
			return true
		},
		check: func(t *testing.T, st store.Store, k string) {
			if ok, err := st.Expire(ctx(t), k, longTTL); err != nil || ok {
				t.Fatalf("Expire after ttl = %v, %v; want false", ok, err)
			}
			wantMissing(t, st, k)
		},
	},
	{
		name: "Expire extends",
		setup: func(t *testing.T, st store.Store, k string, live func() bool) bool {
			mustSet(t, st, k, []byte("v"), shortTTL)
			ok, err := st.Expire(ctx(t), k, longTTL)
			if err != nil {
				t.Fatalf("Expire: %v", err)
			}
			if !live() {
				return false
			}
			if !ok {
				t.Fatal("Expire on a live key = false, want true")
			}
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantValue(t, st, k, []byte("v")) },
	},
	{
		name: "Expire shortens",
		setup: func(t *testing.T, st store.Store, k string, live func() bool) bool {
			mustSet(t, st, k, []byte("v"), longTTL)
			if ok, err := st.Expire(ctx(t), k, shortTTL); err != nil || !ok {
				t.Fatalf("Expire = %v, %v; want true", ok, err)
			}
			got, err := st.Get(ctx(t), k)
			if !live() {
				return false
			}
			if err != nil || string(got) != "v" {
				t.Fatalf("Get right after Expire = %q, %v; want v", got, err)
			}
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name: "Set resets ttl",
		setup: func(t *testing.T, st store.Store, k string, _ func() bool) bool {
			mustSet(t, st, k, []byte("short"), shortTTL)
			mustSet(t, st, k, []byte("long"), longTTL)
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantValue(t, st, k, []byte("long")) },
	},
	{
		name: "SetNX on live key keeps ttl",
		setup: func(t *testing.T, st store.Store, k string, live func() bool) bool {
			mustSet(t, st, k, []byte("v"), shortTTL)
			ok, err := st.SetNX(ctx(t), k, []byte("other"), longTTL)
			if err != nil {
				t.Fatalf("SetNX: %v", err)
			}
			if !live() {
				return false
			}
			if ok {
				t.Fatal("SetNX on a live key = true, want false")
			}
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
	{
		name: "sub-millisecond ttl",
		setup: func(t *testing.T, st store.Store, k string, _ func() bool) bool {
			mustSet(t, st, k, []byte("v"), time.Microsecond)
			return true
		},
		check: func(t *testing.T, st store.Store, k string) { wantMissing(t, st, k) },
	},
}

// testExpiry sets up every expiry case, waits once for the short TTLs to
// pass, then checks every case, so the suite sleeps only once.
func (s *suite) testExpiry(t *testing.T) {
	st := s.newStore(t)
	keys := make([]string, len(expiryCases))
	for i, c := range expiryCases {
		t.Run("setup "+c.name, func(t *testing.T) {
			for attempt := 1; ; attempt++ {
				k := s.key(t, "ttl", fmt.Sprint(c.name, "#", attempt))
				began := time.Now()
				if c.setup(t, st, k, func() bool { return time.Since(began) < shortTTL }) {
					keys[i] = k
					return
				}
				if attempt == setupAttempts {
					t.Fatalf("%d setups in a row took longer than %v: the store does not answer", attempt, shortTTL)
				}
				t.Logf("setup took longer than %v (a busy machine); again on a fresh key", shortTTL)
			}
		})
	}
	time.Sleep(expiryWait)
	for i, c := range expiryCases {
		t.Run(c.name, func(t *testing.T) {
			if keys[i] == "" {
				t.Fatal("setup failed")
			}
			c.check(t, st, keys[i])
		})
	}
}
