package session

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestLoadVia: LoadVia reads the record with the caller's fetch, once,
// and loads exactly what LoadInto loads; the subject hint is empty until
// this Manager has decoded the session, then the session's subject, also
// after another replica rewrote the record; fetch's errors read as the
// store's (not found: no session; any other: unavailable).
func TestLoadVia(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memoryBackend(t)
	key := testKey()
	f := newFixture(t, b, Config{Keys: [][]byte{key}})
	other := newFixture(t, b, Config{Keys: [][]byte{key}, KeyPrefix: f.m.keys.prefix, Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	_, ck, err := f.m.Create(ctx, testLogin("alice", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var hints []string
	fetch := func(ctx context.Context, key, subject string) ([]byte, error) {
		hints = append(hints, subject)
		return f.store.Get(ctx, key)
	}
	load := func() Session {
		t.Helper()
		var via, into Session
		if err := f.m.LoadVia(ctx, request(ck), &via, fetch); err != nil {
			t.Fatal(err)
		}
		if err := f.m.LoadInto(ctx, request(ck), &into); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(via, into) {
			t.Fatalf("LoadVia loaded %+v, LoadInto %+v", via, into)
		}
		return via
	}
	load()
	load()
	if _, err := other.m.Load(ctx, request(ck)); err != nil { // touches: its clock is ahead
		t.Fatal(err)
	}
	if s := load(); !s.IdleExpires.After(time.Now().Add(DefaultIdleTimeout + 5*time.Minute)) {
		t.Fatalf("idle expiry %v: not the record the other replica wrote", s.IdleExpires)
	}
	if want := []string{"", "alice", "alice"}; !reflect.DeepEqual(hints, want) {
		t.Fatalf("fetch called with subjects %q, want %q (once per load)", hints, want)
	}

	var s Session
	for _, tc := range []struct {
		err  error
		want error
	}{
		{store.ErrNotFound, ErrNotFound},
		{errors.New("connection refused"), ErrUnavailable},
	} {
		err := f.m.LoadVia(ctx, request(ck), &s, func(context.Context, string, string) ([]byte, error) { return nil, tc.err })
		if !errors.Is(err, tc.want) {
			t.Errorf("fetch error %v: LoadVia returned %v, want %v", tc.err, err, tc.want)
		}
	}
}
