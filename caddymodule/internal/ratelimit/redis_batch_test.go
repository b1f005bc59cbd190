package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// batchZone holds 10 events and refills slowly: Remaining counts charges.
func batchZone(name string, burst int) ratelimit.Zone {
	return ratelimit.Zone{Name: name, Rate: ratelimit.Rate{Count: burst + 1, Period: time.Hour}, Burst: burst, Key: ratelimit.DefaultKey}
}

// sendBatch begins, sends and finishes a batch for reqs through its own
// pipeline, as a caller sharing the round trip does.
func sendBatch(t *testing.T, l *ratelimit.Redis, reqs []ratelimit.Request) (*ratelimit.Batch, []ratelimit.Result, error) {
	t.Helper()
	b, err := l.Begin(reqs)
	if err != nil {
		t.Fatal(err)
	}
	if b.NeedsRedis() {
		pipe := l.Client().Pipeline()
		b.Queue(context.Background(), pipe)
		_, _ = pipe.Exec(context.Background())
	}
	res, err := b.Finish(context.Background())
	return b, res, err
}

// left returns the bucket's Remaining after one more charge (which it makes).
func left(t *testing.T, l *ratelimit.Redis, z ratelimit.Zone, key string) int {
	t.Helper()
	res, err := l.Allow(context.Background(), []ratelimit.Request{{Zone: z, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Remaining
}

// TestBatchRefund: Refund gives back a batch every zone admitted, once;
// after a denial by another zone (Finish already refunded the admitting
// ones) it gives back nothing more.
func TestBatchRefund(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, storeClient(t, store.RedisConfig{URL: redistest.SharedStandalone(t).URL()}), ratelimit.RedisOptions{})
	a, tight := batchZone("batch_a", 9), batchZone("batch_tight", 0)
	key := t.Name()

	b, res, err := sendBatch(t, l, []ratelimit.Request{{Zone: a, Key: key}})
	if err != nil || !ratelimit.Allowed(res) || res[0].Remaining != 9 {
		t.Fatalf("first: %+v, %v", res, err)
	}
	for range 2 {
		if err := b.Refund(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := left(t, l, a, key); got != 9 {
		t.Fatalf("after a refund (twice): remaining %d, want 9", got)
	}
	// a now has 9; the tight zone admits one event, then refuses.
	if got := left(t, l, tight, key); got != 0 {
		t.Fatalf("tight: remaining %d, want 0", got)
	}
	b, res, err = sendBatch(t, l, []ratelimit.Request{{Zone: a, Key: key}, {Zone: tight, Key: key}})
	if err != nil || ratelimit.Allowed(res) {
		t.Fatalf("denial: %+v, %v", res, err)
	}
	if err := b.Refund(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := left(t, l, a, key); got != 8 {
		t.Fatalf("after a denial and Refund: remaining %d, want 8 (refunded once, by Finish)", got)
	}
}

// TestBatchCancel: Cancel gives back what a sent batch charged, and a
// batch whose round trip failed and is cancelled leaves the circuit
// breaker closed (Finish would count the failure).
func TestBatchCancel(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, storeClient(t, store.RedisConfig{URL: redistest.SharedStandalone(t).URL()}), ratelimit.RedisOptions{})
	a := batchZone("batch_cancel", 9)
	key := t.Name()
	b, err := l.Begin([]ratelimit.Request{{Zone: a, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	pipe := l.Client().Pipeline()
	b.Queue(context.Background(), pipe)
	_, _ = pipe.Exec(context.Background())
	if err := b.Cancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Finish(context.Background()); !errors.Is(err, ratelimit.ErrUnavailable) || res[0].Source != ratelimit.SourceOnError {
		t.Fatalf("Finish after Cancel: %+v, %v", res, err)
	}
	if got := left(t, l, a, key); got != 9 {
		t.Fatalf("after Cancel: remaining %d, want 9", got)
	}

	down := newLimiter(t, storeClient(t, store.RedisConfig{URL: "redis://127.0.0.1:1/0"}), ratelimit.RedisOptions{})
	for range 2 * ratelimit.DefaultBreakerThreshold {
		b, err := down.Begin([]ratelimit.Request{{Zone: a, Key: key}})
		if err != nil {
			t.Fatal(err)
		}
		pipe := down.Client().Pipeline()
		b.Queue(context.Background(), pipe)
		_, _ = pipe.Exec(context.Background())
		_ = b.Cancel(context.Background())
	}
	if st := down.State(); st != ratelimit.StateClosed {
		t.Fatalf("breaker %v after cancelled failures, want closed", st)
	}
	// Never queued: each zone's on_error, and ErrUnavailable.
	b, err = l.Begin([]ratelimit.Request{{Zone: a, Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.Finish(context.Background()); !errors.Is(err, ratelimit.ErrUnavailable) || res[0].Source != ratelimit.SourceOnError || res[0].Allowed {
		t.Fatalf("Finish unsent: %+v, %v", res, err)
	}
}
