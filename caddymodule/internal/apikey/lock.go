package apikey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Lock timing. A holder does a read and a write, each bounded by the
// store's timeouts (tens of milliseconds), so lockTTL only matters when a
// holder crashes; lockWait bounds how long a writer queues behind others.
const (
	lockTTL      = 10 * time.Second
	lockWait     = 3 * time.Second
	lockPollMin  = 2 * time.Millisecond
	lockPollMax  = 50 * time.Millisecond
	unlockBudget = time.Second
)

// errLockBusy is returned when a lock stays taken for lockWait.
var errLockBusy = errors.New("apikey: record is locked by another writer; try again")

// withLock runs fn while holding the lock of key (SetNX of key+":lock"),
// so read-modify-write cycles on one record (revoke, rotate, last-used
// flush) do not overwrite each other, on any store. It waits up to
// lockWait for a busy lock. The lock is released with a plain delete:
// fn is bounded by the store's timeouts, far below lockTTL, so it cannot
// outlive its lock and release another writer's.
func withLock(ctx context.Context, st store.Store, key string, fn func() error) error {
	lk := lockKey(key)
	wait, deadline := lockPollMin, time.Now().Add(lockWait)
	for {
		ok, err := st.SetNX(ctx, lk, []byte("1"), lockTTL)
		if err != nil {
			return fmt.Errorf("apikey: taking lock: %w", err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return errLockBusy
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("apikey: waiting for lock: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, lockPollMax)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBudget)
		defer cancel()
		_ = st.Delete(uctx, lk) // on failure the lock expires after lockTTL
	}()
	return fn()
}
