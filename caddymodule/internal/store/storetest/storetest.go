// Package storetest is a conformance suite for store.Store implementations.
//
// Call Run from a test of each implementation:
//
//	func TestMemoryConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			m, err := store.NewMemory(store.MemoryOptions{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { m.Close() })
//			return m
//		})
//	}
//
// newStore is called once per subtest (subtests run in parallel) and must
// return a working store; it should register its own cleanup. Stores may
// share a backend: every Run uses keys under a random prefix, and every
// subtest its own ids. Expiry is tested with real time (TTLs of about a
// second, in parallel), so a run takes about two seconds; what a check
// expects never depends on how fast the machine runs it.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const (
	// longTTL outlives every test.
	longTTL = time.Minute
	// opTimeout bounds one operation of the suite: "hung", never merely
	// "slow" on a loaded machine running -race.
	opTimeout = 30 * time.Second
)

// suite carries what every check needs.
type suite struct {
	newStore func(t *testing.T) store.Store
	prefix   string // unique per Run
}

// Run runs the conformance suite; see the package doc.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	s := &suite{newStore: newStore, prefix: "storetest-" + rand.Text()[:10]}
	groups := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"GetMissing", s.testGetMissing},
		{"SetGet", s.testSetGet},
		{"Overwrite", s.testOverwrite},
		{"InvalidTTL", s.testInvalidTTL},
		{"SetNX", s.testSetNX},
		{"GetDel", s.testGetDel},
		{"Delete", s.testDelete},
		{"ExpireMissing", s.testExpireMissing},
		{"BinarySafe", s.testBinarySafe},
		{"HashTagKeys", s.testHashTagKeys},
		{"ValuesCopied", s.testValuesCopied},
		{"Ping", s.testPing},
		{"CanceledContext", s.testCanceledContext},
		{"Close", s.testClose},
		{"Expiry", s.testExpiry},
		{"Concurrency", s.testConcurrency},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.fn(t)
		})
	}
}

// key returns a key unique to the Run, with a hash tag made of kind and id.
func (s *suite) key(t *testing.T, kind, id string) string {
	return store.Key(s.prefix, kind, t.Name()+"/"+id)
}

// ctx returns a context bounded by opTimeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return c
}

// mustSet stores value under key or fails the test.
func mustSet(t *testing.T, st store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := st.Set(ctx(t), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

// wantValue checks that key holds want.
func wantValue(t *testing.T, st store.Store, key string, want []byte) {
	t.Helper()
	got, err := st.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, abbrev(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, abbrev(got), abbrev(want))
	}
}

// wantMissing checks that key does not exist.
func wantMissing(t *testing.T, st store.Store, key string) {
	t.Helper()
	got, err := st.Get(ctx(t), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, abbrev(got), err)
	}
}

// abbrev shortens long values in messages.
func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", b[:40], len(b))
	}
	return string(b)
}

func (s *suite) testGetMissing(t *testing.T) {
	st := s.newStore(t)
	wantMissing(t, st, s.key(t, "s", "missing"))
	if v, err := st.GetDel(ctx(t), s.key(t, "s", "missing")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDel(missing) = %q, %v; want ErrNotFound", v, err)
	}
	if err := st.Delete(ctx(t), s.key(t, "s", "missing")); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func (s *suite) testSetGet(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "s", "a")
	mustSet(t, st, k, []byte("value"), longTTL)
	wantValue(t, st, k, []byte("value"))
	wantValue(t, st, k, []byte("value")) // Get does not consume
}

func (s *suite) testOverwrite(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "s", "a")
	mustSet(t, st, k, []byte("first"), longTTL)
	mustSet(t, st, k, []byte("second, longer"), longTTL)
	wantValue(t, st, k, []byte("second, longer"))
	mustSet(t, st, k, []byte("3"), longTTL)
	wantValue(t, st, k, []byte("3"))
}

func (s *suite) testInvalidTTL(t *testing.T) {
	st := s.newStore(t)
	ops := []struct {
		name string
		do   func(key string, ttl time.Duration) error
	}{
		{"Set", func(k string, ttl time.Duration) error { return st.Set(ctx(t), k, []byte("v"), ttl) }},
		{"SetNX", func(k string, ttl time.Duration) error {
			_, err := st.SetNX(ctx(t), k, []byte("v"), ttl)
			return err
		}},
		{"Expire", func(k string, ttl time.Duration) error {
			_, err := st.Expire(ctx(t), k, ttl)
			return err
		}},
	}
	for _, op := range ops {
		for _, ttl := range []time.Duration{0, -time.Nanosecond, -time.Hour} {
			t.Run(fmt.Sprintf("%s/%v", op.name, ttl), func(t *testing.T) {
				k := s.key(t, "s", "k")
				if op.name == "Expire" {
					mustSet(t, st, k, []byte("kept"), longTTL)
				}
				err := op.do(k, ttl)
				if !errors.Is(err, store.ErrInvalidTTL) {
					t.Fatalf("%s with ttl %v = %v, want ErrInvalidTTL", op.name, ttl, err)
				}
				if op.name == "Expire" {
					wantValue(t, st, k, []byte("kept"))
				} else {
					wantMissing(t, st, k)
				}
			})
		}
	}
}

func (s *suite) testSetNX(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "lock", "a")
	ok, err := st.SetNX(ctx(t), k, []byte("first"), longTTL)
	if err != nil || !ok {
		t.Fatalf("SetNX on a new key = %v, %v; want true", ok, err)
	}
	ok, err = st.SetNX(ctx(t), k, []byte("second"), longTTL)
	if err != nil || ok {
		t.Fatalf("SetNX on an existing key = %v, %v; want false", ok, err)
	}
	wantValue(t, st, k, []byte("first"))
	if err := st.Delete(ctx(t), k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	ok, err = st.SetNX(ctx(t), k, []byte("third"), longTTL)
	if err != nil || !ok {
		t.Fatalf("SetNX after Delete = %v, %v; want true", ok, err)
	}
	wantValue(t, st, k, []byte("third"))
}

func (s *suite) testGetDel(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "state", "a")
	mustSet(t, st, k, []byte("once"), longTTL)
	got, err := st.GetDel(ctx(t), k)
	if err != nil || string(got) != "once" {
		t.Fatalf("GetDel = %q, %v; want once", got, err)
	}
	wantMissing(t, st, k)
	if got, err := st.GetDel(ctx(t), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second GetDel = %q, %v; want ErrNotFound", got, err)
	}
}

func (s *suite) testDelete(t *testing.T) {
	st := s.newStore(t)
	if err := st.Delete(ctx(t)); err != nil {
		t.Fatalf("Delete() with no keys = %v, want nil", err)
	}
	// Different kinds and ids: different hash tags, so on a cluster the keys
	// spread over several slots and nodes.
	var keys []string
	for i := range 12 {
		k := s.key(t, fmt.Sprintf("k%d", i), fmt.Sprint(i))
		mustSet(t, st, k, []byte(fmt.Sprint(i)), longTTL)
		keys = append(keys, k)
	}
	keep := s.key(t, "keep", "x")
	mustSet(t, st, keep, []byte("kept"), longTTL)
	if err := st.Delete(ctx(t), append(keys, s.key(t, "never", "set"))...); err != nil {
		t.Fatalf("Delete(%d keys): %v", len(keys)+1, err)
	}
	for _, k := range keys {
		wantMissing(t, st, k)
	}
	wantValue(t, st, keep, []byte("kept"))
	if err := st.Delete(ctx(t), keep); err != nil {
		t.Fatalf("Delete(one key): %v", err)
	}
	wantMissing(t, st, keep)
}

func (s *suite) testExpireMissing(t *testing.T) {
	st := s.newStore(t)
	ok, err := st.Expire(ctx(t), s.key(t, "s", "missing"), longTTL)
	if err != nil || ok {
		t.Fatalf("Expire(missing) = %v, %v; want false, nil", ok, err)
	}
	wantMissing(t, st, s.key(t, "s", "missing"))
}

func (s *suite) testBinarySafe(t *testing.T) {
	st := s.newStore(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"empty value", "empty", []byte{}},
		{"every byte", "all", all},
		{"NUL and CRLF", "crlf", []byte("a\x00b\r\nc\r\n")},
		{"invalid UTF-8", "utf8", []byte{0xff, 0xfe, 0xc0, 0x80}},
		{"RESP lookalike", "resp", []byte("*1\r\n$4\r\nPING\r\n")},
		{"1 MiB random", "big", big},
		{"odd key", "sp ace/ünï\x00cøde\r\n", []byte("v")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := s.key(t, "bin", tc.key)
			mustSet(t, st, k, tc.value, longTTL)
			wantValue(t, st, k, tc.value)
			got, err := st.GetDel(ctx(t), k)
			if err != nil || !bytes.Equal(got, tc.value) {
				t.Fatalf("GetDel = %q, %v; want %q", abbrev(got), err, abbrev(tc.value))
			}
		})
	}
}

func (s *suite) testHashTagKeys(t *testing.T) {
	st := s.newStore(t)
	base := s.key(t, "rl", "203.0.113.7")
	// Sibling keys share the hash tag (and so the slot) with the base key.
	for _, k := range []string{base, base + ":count", base + ":window", store.Key("", "rl", t.Name())} {
		mustSet(t, st, k, []byte(k), longTTL)
		wantValue(t, st, k, []byte(k))
	}
	if err := st.Delete(ctx(t), base, base+":count", base+":window", store.Key("", "rl", t.Name())); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, st, base+":count")
}

func (s *suite) testValuesCopied(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "s", "a")
	in := []byte("original")
	mustSet(t, st, k, in, longTTL)
	copy(in, "CHANGED!")
	got, err := st.Get(ctx(t), k)
	if err != nil || string(got) != "original" {
		t.Fatalf("Get after changing the Set slice = %q, %v; want original", got, err)
	}
	copy(got, "CHANGED!")
	wantValue(t, st, k, []byte("original"))
}

func (s *suite) testPing(t *testing.T) {
	if err := s.newStore(t).Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func (s *suite) testCanceledContext(t *testing.T) {
	st := s.newStore(t)
	c, cancel := context.WithCancel(t.Context())
	cancel()
	k := s.key(t, "s", "a")
	if err := st.Set(c, k, []byte("v"), longTTL); err == nil {
		t.Error("Set with a canceled context succeeded")
	}
	if _, err := st.Get(c, k); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get with a canceled context = %v, want a context error", err)
	}
	if err := st.Ping(c); err == nil {
		t.Error("Ping with a canceled context succeeded")
	}
}

func (s *suite) testClose(t *testing.T) {
	st := s.newStore(t)
	k := s.key(t, "s", "a")
	mustSet(t, st, k, []byte("v"), longTTL)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := st.Get(ctx(t), k); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := st.Set(ctx(t), k, []byte("v"), longTTL); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
	if err := st.Ping(ctx(t)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}
