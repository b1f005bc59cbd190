package ratelimit_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// uniqueZone returns a valid zone name no other test (or run) uses.
func uniqueZone(name string) string {
	return name + "-" + strings.ToLower(rand.Text()[:8])
}

// zone builds a zone or fails.
func zone(t *testing.T, name, rate string, burst int) ratelimit.Zone {
	t.Helper()
	r, err := ratelimit.ParseRate(rate)
	if err != nil {
		t.Fatal(err)
	}
	z := ratelimit.Zone{Name: uniqueZone(name), Rate: r, Burst: burst}
	if err := z.Validate(); err != nil {
		t.Fatal(err)
	}
	return z
}

func TestRedisBucketKey(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { client.Close() })
	plain := newLimiter(t, client, ratelimit.RedisOptions{})
	salted := newLimiter(t, client, ratelimit.RedisOptions{KeySecret: []byte("s3cret"), Prefix: "app"})

	shape := regexp.MustCompile(`^pcl:\{rl:per_user:[0-9a-f]{32}\}$`)
	long := strings.Repeat("x", 10000)
	for _, key := range []string{"alice", "203.0.113.9", "{evil}", long} {
		k := plain.BucketKey("per_user", key)
		if !shape.MatchString(k) {
			t.Errorf("BucketKey(%.20q) = %q, want %v", key, k, shape)
		}
		if strings.Contains(k, key) {
			t.Errorf("BucketKey(%.20q) = %q contains the raw key", key, k)
		}
		if s := salted.BucketKey("per_user", key); !strings.HasPrefix(s, "app:{rl:per_user:") || s[len(s)-33:] == k[len(k)-33:] {
			t.Errorf("with a KeySecret and prefix: %q (plain %q)", s, k)
		}
	}
	if plain.BucketKey("z", "a") == plain.BucketKey("z", "b") || plain.BucketKey("y", "a") == plain.BucketKey("z", "a") {
		t.Error("distinct buckets share a key")
	}
	if plain.BucketKey("z", "a") != plain.BucketKey("z", "a") {
		t.Error("BucketKey is not deterministic")
	}
}

// clients are the real Redis deployments the key tests run on.
func realClients(t *testing.T) []struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
} {
	return []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"Standalone", func(t *testing.T) redis.UniversalClient {
			return storeClient(t, store.RedisConfig{URL: redistest.SharedStandalone(t).URL()})
		}},
		{"Cluster", func(t *testing.T) redis.UniversalClient {
			return storeClient(t, store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true})
		}},
	}
}

// scanBuckets returns every key of zone on every master.
func scanBuckets(ctx context.Context, t *testing.T, client redis.UniversalClient, zone string) []string {
	t.Helper()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "pcl:{rl:"+zone+":*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("unexpected client %T", client)
	}
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return keys
}

// TestRedisKeysHaveTTL checks that every bucket key carries a TTL no
// longer than its window, through charges, refusals and refunds, and
// that a refunded fresh bucket leaves no key at all.
func TestRedisKeysHaveTTL(t *testing.T) {
	t.Parallel()
	for _, rc := range realClients(t) {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			client := rc.client(t)
			l := newLimiter(t, client, ratelimit.RedisOptions{})
			// Slow rates: no bucket may fill up (and its key expire) while
			// the test runs.
			wide, narrow := zone(t, "wide", "10/1h", 4), zone(t, "narrow", "1/1h", 0)
			for i := range 30 {
				key := fmt.Sprint("user-", i)
				for range 3 {
					if _, err := l.Allow(ctx, []ratelimit.Request{{Zone: wide, Key: key}, {Zone: narrow, Key: key}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A fresh wide bucket charged, then refunded because narrow
			// refuses: nothing is left to remember.
			if _, err := l.Allow(ctx, []ratelimit.Request{{Zone: wide, Key: "fresh"}, {Zone: narrow, Key: "user-0"}}); err != nil {
				t.Fatal(err)
			}
			if n, err := client.Exists(ctx, l.BucketKey(wide.Name, "fresh")).Result(); err != nil || n != 0 {
				t.Errorf("refunded fresh bucket: EXISTS = %d, %v; want 0", n, err)
			}
			for _, z := range []ratelimit.Zone{wide, narrow} {
				keys := scanBuckets(ctx, t, client, z.Name)
				if len(keys) != 30 {
					t.Errorf("zone %s has %d keys, want 30", z.Name, len(keys))
				}
				for _, k := range keys {
					ttl, err := client.PTTL(ctx, k).Result()
					if err != nil || ttl <= 0 || ttl > z.Quota().Window() {
						t.Errorf("PTTL %s = %v, %v; want in (0, %v]", k, ttl, err, z.Quota().Window())
					}
				}
			}
		})
	}
}

// TestRedisClusterSlots checks that buckets spread over the masters, that
// each lives on the master owning its slot, and that one request whose
// zones live on different masters is still decided in one Allow.
func TestRedisClusterSlots(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := storeClient(t, store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true})
	cc := client.(*redis.ClusterClient)
	l := newLimiter(t, client, ratelimit.RedisOptions{})

	// Zones (random names) until every master holds at least two buckets.
	var reqs []ratelimit.Request
	byNode := map[string][]string{}
	enough := func() bool {
		if len(byNode) < 3 {
			return false
		}
		for _, keys := range byNode {
			if len(keys) < 2 {
				return false
			}
		}
		return true
	}
	for i := 0; !enough(); i++ {
		if i == 100 {
			t.Fatalf("100 buckets did not spread over 3 masters: %v", byNode)
		}
		z := zone(t, fmt.Sprint("z", i), "5/1h", 1)
		reqs = append(reqs, ratelimit.Request{Zone: z, Key: "alice"})
		k := l.BucketKey(z.Name, "alice")
		node, err := cc.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		byNode[node.Options().Addr] = append(byNode[node.Options().Addr], k)
	}
	for range 2 {
		rs, err := l.Allow(ctx, reqs)
		if err != nil || !ratelimit.Allowed(rs) {
			t.Fatalf("Allow over 3 masters = %+v, %v", rs, err)
		}
	}
	rs, err := l.Allow(ctx, reqs)
	if err != nil || ratelimit.Allowed(rs) {
		t.Fatalf("third Allow = %+v, %v; want refused by every zone", rs, err)
	}
	for addr, keys := range byNode {
		node := redis.NewClient(&redis.Options{Addr: addr})
		for _, k := range keys {
			if n, err := node.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("%s on its master %s: EXISTS = %d, %v", k, addr, n, err)
			}
		}
		node.Close()
	}
}

// TestRedisScriptReload checks that a server that lost its script cache
// (restart, failover, SCRIPT FLUSH) gets the script again transparently,
// and that the bucket is charged exactly once meanwhile. On the shared
// cluster other tests may reload the script first, so only there one round
// trip is as good as two.
func TestRedisScriptReload(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		client  func(t *testing.T) redis.UniversalClient
		private bool
	}{
		{"Miniredis", func(t *testing.T) redis.UniversalClient { return miniredisClient(t, newMiniredis(t, nil)) }, true},
		{"Standalone", func(t *testing.T) redis.UniversalClient {
			return storeClient(t, store.RedisConfig{URL: redistest.StartStandalone(t).URL()})
		}, true},
		{"Cluster", func(t *testing.T) redis.UniversalClient {
			return storeClient(t, store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true})
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			client := tt.client(t)
			var mu sync.Mutex
			trips := 0
			l := newLimiter(t, client, ratelimit.RedisOptions{Observer: ratelimit.Observer{
				OnRedisLatency: func(time.Duration) { mu.Lock(); trips++; mu.Unlock() },
			}})
			z := zone(t, "z", "10/1h", 9)
			req := []ratelimit.Request{{Zone: z, Key: "k"}}
			for want := 9; want >= 7; want-- {
				if err := flushScripts(ctx, client); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				trips = 0
				mu.Unlock()
				rs, err := l.Allow(ctx, req)
				if err != nil || rs[0].Remaining != want {
					t.Fatalf("after SCRIPT FLUSH: %+v, %v; want %d left", rs, err, want)
				}
				mu.Lock()
				if trips != 2 && (tt.private || trips != 1) {
					t.Errorf("%d round trips after SCRIPT FLUSH, want 2 (EVALSHA, EVAL)", trips)
				}
				mu.Unlock()
			}
		})
	}
}

// flushScripts empties the script cache of every master.
func flushScripts(ctx context.Context, client redis.UniversalClient) error {
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.ScriptFlush(ctx).Err() })
	}
	return client.ScriptFlush(ctx).Err()
}

// TestRedisClusterRedirects gives the limiter a cluster client that
// believes one master owns every slot, so most scripts are answered with
// MOVED: go-redis must follow the redirects even though the scripts are
// marked NoRetry, and each bucket must still be charged exactly once.
func TestRedisClusterRedirects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addrs := redistest.SharedCluster(t).Addrs()
	wrong := redis.NewClusterClient(&redis.ClusterOptions{
		ClusterSlots: func(context.Context) ([]redis.ClusterSlot, error) {
			return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: addrs[0]}}}}, nil
		},
		ContextTimeoutEnabled: true,
		ReadTimeout:           relaxedTimeout,
		WriteTimeout:          relaxedTimeout,
	})
	t.Cleanup(func() { wrong.Close() })
	right := storeClient(t, store.RedisConfig{Addrs: addrs, Cluster: true}).(*redis.ClusterClient)
	l := newLimiter(t, wrong, ratelimit.RedisOptions{})

	var reqs []ratelimit.Request
	moved := 0
	for i := range 9 {
		z := zone(t, fmt.Sprint("z", i), "5/1h", 1) // two at once
		reqs = append(reqs, ratelimit.Request{Zone: z, Key: "bob"})
		node, err := right.MasterForKey(ctx, l.BucketKey(z.Name, "bob"))
		if err != nil {
			t.Fatal(err)
		}
		if node.Options().Addr != addrs[0] {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("every bucket is on the first master; the test would see no redirect")
	}
	first := redis.NewClient(&redis.Options{Addr: addrs[0]})
	t.Cleanup(func() { first.Close() })
	rejectedBefore := rejectedScripts(t, first)
	for want := 1; want >= 0; want-- {
		rs, err := l.Allow(ctx, reqs)
		if err != nil {
			t.Fatalf("Allow through redirects: %v", err)
		}
		for i, r := range rs {
			if !r.Allowed || r.Remaining != want {
				t.Fatalf("zone %d: allowed=%v remaining=%d, want true %d (charged once)", i, r.Allowed, r.Remaining, want)
			}
		}
	}
	if rs, err := l.Allow(ctx, reqs); err != nil || ratelimit.Allowed(rs) {
		t.Fatalf("third Allow = %+v, %v; want refused", rs, err)
	}
	if got := rejectedScripts(t, first) - rejectedBefore; got < 3*moved {
		t.Errorf("the first master rejected %d scripts, want at least %d MOVED", got, 3*moved)
	}
	t.Logf("%d of %d buckets reached through MOVED", moved, len(reqs))
}

// rejectedScripts returns how many EVAL and EVALSHA calls the server
// rejected before running them (MOVED among them), from INFO commandstats.
func rejectedScripts(t *testing.T, c *redis.Client) int {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for line := range strings.SplitSeq(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for field := range strings.SplitSeq(stats, ",") {
			if v, ok := strings.CutPrefix(field, "rejected_calls="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("commandstats %q: %v", line, err)
				}
				total += n
			}
		}
	}
	return total
}
