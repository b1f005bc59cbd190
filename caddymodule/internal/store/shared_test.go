package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestMemoryGetShared: the shared read answers what Get answers, and a
// later Set replaces the value without changing the slice handed out.
func TestMemoryGetShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMemory(t, store.MemoryOptions{})
	if _, err := store.GetShared(ctx, m, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := m.Set(ctx, "k", []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	shared, err := store.GetShared(ctx, m, "k")
	if err != nil || string(shared) != "one" {
		t.Fatalf("GetShared = %q, %v", shared, err)
	}
	copied, _ := m.Get(ctx, "k")
	if !bytes.Equal(shared, copied) {
		t.Fatalf("GetShared %q, Get %q", shared, copied)
	}
	if err := m.Set(ctx, "k", []byte("two"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if string(shared) != "one" {
		t.Fatalf("a later Set changed the shared value to %q", shared)
	}
	if now, _ := store.GetShared(ctx, m, "k"); string(now) != "two" {
		t.Fatalf("after Set: %q", now)
	}
}
