package lockout_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout/lockouttest"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// relaxedTimeout: "hung", never merely "slow" on a loaded machine.
const relaxedTimeout = 10 * time.Second

// storeClient returns the client of a store.Redis for cfg, as the
// adapter passes it, closed at the end.
func storeClient(t testing.TB, cfg store.RedisConfig) redis.UniversalClient {
	t.Helper()
	cfg.ReadTimeout, cfg.WriteTimeout = relaxedTimeout, relaxedTimeout
	st, err := store.NewRedis(cfg)
	if err != nil {
		t.Fatalf("store.NewRedis: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st.Client()
}

func newRedisStore(t testing.TB, client redis.UniversalClient) *lockout.Redis {
	t.Helper()
	r, err := lockout.NewRedis(client, lockout.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRedisStandaloneConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	lockouttest.Run(t, func(t *testing.T) lockout.Store {
		return newRedisStore(t, storeClient(t, store.RedisConfig{URL: srv.URL()}))
	})
}

func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	c := redistest.SharedCluster(t)
	lockouttest.Run(t, func(t *testing.T) lockout.Store {
		return newRedisStore(t, storeClient(t, store.RedisConfig{Addrs: c.Addrs(), Cluster: true}))
	})
}

// TestRedisKeys: one key per client, with our prefix and a hash tag, no
// address in it, and a TTL that covers the window and the lockout.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	client := storeClient(t, store.RedisConfig{URL: srv.URL()})
	r := newRedisStore(t, client)
	ctx := context.Background()
	ip := "198.51.100.23-" + rand.Text()
	key := r.Key(ip)
	if !strings.HasPrefix(key, "pcl:{lo:") || !strings.HasSuffix(key, "}") || strings.Contains(key, "198.51") || len(key) != len("pcl:{lo:}")+32 {
		t.Fatalf("key %q: want pcl:{lo:<32 hex>} without the address", key)
	}
	p := lockout.Policy{Limit: 2, Window: time.Minute, Lockout: 2 * time.Minute, Progressive: true, MaxLockout: 10 * time.Minute}
	now := time.Now()
	if _, err := r.Fail(ctx, ip, now, p); err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, key).Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("TTL after one failure = %v, want the window (1m)", ttl)
	}
	if s, err := r.Fail(ctx, ip, now, p); err != nil || !s.Started {
		t.Fatalf("second failure: %+v, %v", s, err)
	}
	// The lockout (2m) and the memory of the series (10m).
	if ttl := client.PTTL(ctx, key).Val(); ttl <= 11*time.Minute || ttl > 12*time.Minute {
		t.Fatalf("TTL after a lockout = %v, want about 12m", ttl)
	}
	if _, err := lockout.NewRedis(client, lockout.RedisOptions{Prefix: "a{b"}); err == nil {
		t.Fatal("a prefix with a brace was accepted")
	}
}

// TestRedisReplicas: two stores on one Redis (two replicas) count into
// the same record.
func TestRedisReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.SharedStandalone(t)
	a := newRedisStore(t, storeClient(t, store.RedisConfig{URL: srv.URL()}))
	b := newRedisStore(t, storeClient(t, store.RedisConfig{URL: srv.URL()}))
	ctx := context.Background()
	ip, now := "replicas-"+rand.Text(), time.Now()
	p := lockout.Policy{Limit: 4, Window: time.Minute, Lockout: time.Minute, MaxLockout: time.Minute}
	for i := range 3 {
		st := []lockout.Store{a, b}[i%2]
		if s, err := st.Fail(ctx, ip, now, p); err != nil || s.Locked != 0 {
			t.Fatalf("failure %d: %+v, %v", i+1, s, err)
		}
	}
	if s, err := b.Fail(ctx, ip, now, p); err != nil || !s.Started {
		t.Fatalf("fourth failure, on b: %+v, %v; want the lockout", s, err)
	}
	if s, err := a.Status(ctx, ip, now.Add(time.Second)); err != nil || s.Locked != 59*time.Second {
		t.Fatalf("a's view: %+v, %v; want 59s left", s, err)
	}
}
