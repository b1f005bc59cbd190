package lockout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout/lockouttest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	lockouttest.Run(t, func(*testing.T) lockout.Store { return lockout.NewMemory(lockout.MemoryOptions{}) })
}

// TestMemoryBounded: a full Memory forgets the least recent client,
// preferring one that is not locked out.
func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	m := lockout.NewMemory(lockout.MemoryOptions{MaxClients: 4})
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := lockout.Policy{Limit: 1, Window: time.Minute, Lockout: time.Hour, MaxLockout: time.Hour}
	ctx := context.Background()
	if _, err := m.Fail(ctx, "locked", now, p); err != nil { // the oldest, locked out
		t.Fatal(err)
	}
	q := lockout.Policy{Limit: 5, Window: time.Minute, Lockout: time.Minute, MaxLockout: time.Minute}
	for i := range 10 {
		if _, err := m.Fail(ctx, fmt.Sprint("c", i), now, q); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 4 {
		t.Fatalf("Len = %d, want 4", m.Len())
	}
	if s, _ := m.Status(ctx, "locked", now.Add(time.Minute)); s.Locked != 59*time.Minute {
		t.Fatalf("the locked-out client was evicted: %+v", s)
	}
}
