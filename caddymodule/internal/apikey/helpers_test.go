package apikey

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// fakeClock is an injectable clock.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New() }

// backend opens clients of one shared store: each call returns a new
// client (a new "replica") on the same data.
type backend struct {
	name string
	open func(t *testing.T) store.Store
	// redis is set for Redis backends, to inspect TTLs.
	redis bool
}

// backends returns every store the registry must work on: memory,
// miniredis, a real standalone Redis and a real three-node cluster.
func backends(t *testing.T) []backend {
	t.Helper()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	mr := miniredis.RunT(t)
	return []backend{
		{name: "memory", open: func(*testing.T) store.Store { return mem }},
		{name: "miniredis", open: redisOpener(store.RedisConfig{URL: "redis://" + mr.Addr()}), redis: true},
		{name: "standalone", open: redisOpener(store.RedisConfig{URL: redistest.SharedStandalone(t).URL()}), redis: true},
		{name: "cluster", open: redisOpener(store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true}), redis: true},
	}
}

// redisOpener returns an opener of store.Redis clients with timeouts that
// mean "hung", never merely "slow" for -race on a busy machine.
func redisOpener(cfg store.RedisConfig) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		t.Helper()
		cfg.ReadTimeout, cfg.WriteTimeout = 10*time.Second, 10*time.Second
		r, err := store.NewRedis(cfg)
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
}

// uniquePrefix returns a store prefix no other test uses, so tests can
// share a Redis server.
func uniquePrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// newTestRegistry returns a registry on st, closed at the end of the test.
func newTestRegistry(t *testing.T, opts RegistryOptions) *Registry {
	t.Helper()
	if opts.FlushInterval == 0 {
		opts.FlushInterval = -1 // tests flush explicitly
	}
	r, err := NewRegistry(opts)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// countingStore counts operations by kind and key kind, and can be made
// to fail.
type countingStore struct {
	store.Store
	recordGets, recordSets atomic.Int64
	down                   atomic.Bool
}

var errDown = store.ErrClosed

func isRecordKey(key string) bool {
	return strings.Contains(key, "{"+kindKey+":") && !strings.HasSuffix(key, ":lock")
}

func (c *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if c.down.Load() {
		return nil, errDown
	}
	if isRecordKey(key) {
		c.recordGets.Add(1)
	}
	return c.Store.Get(ctx, key)
}

func (c *countingStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if c.down.Load() {
		return errDown
	}
	if isRecordKey(key) {
		c.recordSets.Add(1)
	}
	return c.Store.Set(ctx, key, value, ttl)
}

func (c *countingStore) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if c.down.Load() {
		return false, errDown
	}
	return c.Store.SetNX(ctx, key, value, ttl)
}
