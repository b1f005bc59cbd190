package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store/storetest"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestMain raises test parallelism and kills the shared redis-server
// processes after the tests. Most tests here wait on TTLs, timeouts or
// Redis rather than use the CPU, so unless -parallel was given they run
// at least minParallel at a time instead of GOMAXPROCS.
func TestMain(m *testing.M) { redistest.MainParallel(m, minParallel) }

// minParallel is the least test parallelism TestMain sets.
const minParallel = 8

// newRedis returns a Redis store for cfg, closed when the test ends.
func newRedis(t *testing.T, cfg store.RedisConfig) *store.Redis {
	t.Helper()
	r, err := store.NewRedis(cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// relaxedTimeout replaces the 50 ms read and write timeouts in tests
// about behaviour rather than latency: long enough to mean "hung", never
// merely "slow" on a loaded machine running -race. The 50 ms defaults are
// exercised by the outage tests.
const relaxedTimeout = 10 * time.Second

// relaxed returns cfg with relaxedTimeout for reads and writes.
func relaxed(cfg store.RedisConfig) store.RedisConfig {
	cfg.ReadTimeout, cfg.WriteTimeout = relaxedTimeout, relaxedTimeout
	return cfg
}

// runMiniredis starts a miniredis whose TTLs follow real time, so keys
// expire as on a real server: with ClockTTL, miniredis advances TTLs by
// the wall-clock time elapsed on every command (it otherwise only expires
// keys on FastForward), with no ticker to lag behind on a busy machine.
func runMiniredis(t *testing.T) *miniredis.Miniredis {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.ClockTTL(true)
	return mr
}

func TestMiniredisConformance(t *testing.T) {
	t.Parallel()
	mr := runMiniredis(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newRedis(t, relaxed(store.RedisConfig{URL: "redis://" + mr.Addr() + "/0"}))
	})
}

func TestRedisStandaloneConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return newRedis(t, relaxed(store.RedisConfig{URL: srv.URL()}))
	})
}

func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := redistest.SharedCluster(t)
	t.Logf("shared cluster ready after %v", time.Since(start).Round(time.Millisecond))
	storetest.Run(t, func(t *testing.T) store.Store {
		return newRedis(t, relaxed(store.RedisConfig{Addrs: c.Addrs(), Cluster: true}))
	})
}

// TestRedisClusterCrossSlot checks that the keys of one Delete really are on
// different nodes, and that Delete removes them all.
func TestRedisClusterCrossSlot(t *testing.T) {
	t.Parallel()
	c := redistest.SharedCluster(t)
	r := newRedis(t, relaxed(store.RedisConfig{URL: c.URL(), Cluster: true}))
	cc := r.Client().(*redis.ClusterClient)
	ctx := t.Context()

	nodes := map[string][]string{} // node address -> keys
	var keys []string
	for i := range 16 {
		k := store.Key("crossslot", "s", fmt.Sprint(i))
		node, err := cc.MasterForKey(ctx, k)
		if err != nil {
			t.Fatalf("MasterForKey: %v", err)
		}
		nodes[node.Options().Addr] = append(nodes[node.Options().Addr], k)
		keys = append(keys, k)
		if err := r.Set(ctx, k, []byte("v"), time.Minute); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("16 keys landed on %d nodes, want all 3: %v", len(nodes), nodes)
	}
	if err := r.Delete(ctx, keys...); err != nil {
		t.Fatalf("Delete across slots: %v", err)
	}
	n, err := cc.Exists(ctx, keys[0]).Result()
	for _, k := range keys[1:] {
		m, e := cc.Exists(ctx, k).Result()
		n, err = n+m, cmpErr(err, e)
	}
	if err != nil || n != 0 {
		t.Fatalf("after Delete, %d keys exist (err %v), want 0", n, err)
	}

	// Record what a single multi-slot DEL does with this go-redis version
	// (informational: Delete does not rely on it).
	err = cc.Del(ctx, keys...).Err()
	t.Logf("plain DEL across slots with go-redis: err=%v", err)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestRedisClusterSlots checks that Key's hash tag keeps a record's sibling
// keys in one slot while different records spread.
func TestRedisClusterSlots(t *testing.T) {
	t.Parallel()
	c := redistest.SharedCluster(t)
	r := newRedis(t, relaxed(store.RedisConfig{Addrs: c.Addrs(), Cluster: true}))
	ctx := t.Context()
	slot := func(k string) int64 {
		s, err := r.Client().ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT: %v", err)
		}
		return s
	}
	base := store.Key("pcl", "rl", "198.51.100.1")
	tests := []struct {
		name     string
		a, b     string
		sameSlot bool
	}{
		{"suffix sibling", base, base + ":count", true},
		{"other prefix", base, store.Key("other", "rl", "198.51.100.1"), true},
		{"no prefix", base, store.Key("", "rl", "198.51.100.1"), true},
		{"other id", base, store.Key("pcl", "rl", "198.51.100.2"), false},
		{"other kind", base, store.Key("pcl", "s", "198.51.100.1"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := slot(tc.a) == slot(tc.b); got != tc.sameSlot {
				t.Errorf("slot(%q)==slot(%q) is %v, want %v", tc.a, tc.b, got, tc.sameSlot)
			}
		})
	}
}

// TestRedisClusterURL checks the cluster URL form with addr parameters.
func TestRedisClusterURL(t *testing.T) {
	t.Parallel()
	c := redistest.SharedCluster(t)
	r := newRedis(t, relaxed(store.RedisConfig{URL: c.URL(), Cluster: true}))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	opts := r.Client().(*redis.ClusterClient).Options()
	if len(opts.Addrs) != 3 {
		t.Errorf("seed addrs = %v, want the 3 from the URL", opts.Addrs)
	}
}

// TestRedisClusterPingNeedsAllMasters checks that Ping fails when one
// master of a (private) cluster is down, from the refused connection
// rather than after a read timeout.
func TestRedisClusterPingNeedsAllMasters(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	r := newRedis(t, relaxed(store.RedisConfig{Addrs: c.Addrs(), Cluster: true}))
	// Far below relaxedTimeout, which a Ping waiting for the dead node's
	// reply would take; far above the milliseconds a refused connection
	// takes, even on a loaded machine.
	const bound = relaxedTimeout / 2
	ctx := t.Context()
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping with all masters up: %v", err)
	}
	c.Nodes()[2].Stop()
	start := time.Now()
	err := r.Ping(ctx)
	if err == nil {
		t.Fatal("Ping with a master down succeeded")
	}
	if d := time.Since(start); d > bound {
		t.Errorf("Ping took %v with a master down, want < %v (it must not wait for a timeout)", d, bound)
	}
	t.Logf("Ping with a master down: %v after %v", err, time.Since(start).Round(time.Millisecond))
}
