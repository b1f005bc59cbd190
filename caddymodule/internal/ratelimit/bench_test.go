package ratelimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// benchZones returns n zones as generous as a zone can be.
func benchZones(b *testing.B, n int) []ratelimit.Zone {
	b.Helper()
	var zs []ratelimit.Zone
	for i := range n {
		z := ratelimit.Zone{Name: uniqueZone("bench" + strconv.Itoa(i)), Rate: ratelimit.Rate{Count: 1_000_000, Period: time.Second}, Burst: 1_000_000}
		if err := z.Validate(); err != nil {
			b.Fatal(err)
		}
		zs = append(zs, z)
	}
	return zs
}

// benchAllow runs Allow in parallel over keys (one per request, cycling
// through nKeys) and zones; it fails on errors only.
func benchAllow(b *testing.B, l ratelimit.Limiter, zones []ratelimit.Zone, nKeys int) {
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		reqs := make([]ratelimit.Request, len(zones))
		i := 0
		for pb.Next() {
			for z := range zones {
				reqs[z] = ratelimit.Request{Zone: zones[z], Key: keys[i%nKeys]}
			}
			i++
			// One key cannot pass more than 1,000,000 per second (plus
			// the burst): a long run may see refusals, which cost the same.
			if _, err := l.Allow(b.Context(), reqs); err != nil {
				b.Fatalf("Allow: %v", err)
			}
		}
	})
}

func BenchmarkMemoryAllow(b *testing.B) {
	for _, bb := range []struct {
		name         string
		zones, nKeys int
	}{
		{"OneKey", 1, 1},
		{"ManyKeys", 1, 100_000},
		{"ThreeZones", 3, 100_000},
	} {
		b.Run(bb.name, func(b *testing.B) {
			benchAllow(b, ratelimit.NewMemory(ratelimit.MemoryOptions{}), benchZones(b, bb.zones), bb.nKeys)
		})
	}
}

// benchClient returns a client for the shared standalone server or
// cluster (relaxed timeouts: a loaded machine must not fail a benchmark).
func benchClient(b *testing.B, cluster bool) redis.UniversalClient {
	if cluster {
		return storeClient(b, store.RedisConfig{Addrs: redistest.SharedCluster(b).Addrs(), Cluster: true})
	}
	return storeClient(b, store.RedisConfig{URL: redistest.SharedStandalone(b).URL()})
}

func BenchmarkRedisAllow(b *testing.B) {
	for _, bb := range []struct {
		name    string
		cluster bool
		zones   int
	}{
		{"Standalone/OneZone", false, 1},
		{"Standalone/ThreeZones", false, 3},
		{"Cluster/OneZone", true, 1},
		{"Cluster/ThreeZones", true, 3},
	} {
		b.Run(bb.name, func(b *testing.B) {
			l, err := ratelimit.NewRedis(benchClient(b, bb.cluster), ratelimit.RedisOptions{Timeout: relaxedTimeout})
			if err != nil {
				b.Fatal(err)
			}
			benchAllow(b, l, benchZones(b, bb.zones), 10_000)
		})
	}
}

// BenchmarkRedisDenyCacheHit measures a refusal served by the deny cache.
func BenchmarkRedisDenyCacheHit(b *testing.B) {
	l, err := ratelimit.NewRedis(benchClient(b, false), ratelimit.RedisOptions{DenyCacheSize: 10_000, Timeout: relaxedTimeout})
	if err != nil {
		b.Fatal(err)
	}
	z := ratelimit.Zone{Name: uniqueZone("deny"), Rate: ratelimit.Rate{Count: 1, Period: time.Hour}}
	reqs := []ratelimit.Request{{Zone: z, Key: "k"}}
	for range 2 {
		if _, err := l.Allow(b.Context(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		reqs := []ratelimit.Request{{Zone: z, Key: "k"}}
		for pb.Next() {
			rs, _ := l.Allow(b.Context(), reqs)
			if rs[0].Source != ratelimit.SourceDenyCache {
				b.Fatalf("result %+v, want a deny-cache refusal", rs[0])
			}
		}
	})
}

// BenchmarkMemoryAllowInto measures one zone and one key decided into
// local arrays, as the adapter does for a route with memory zones.
func BenchmarkMemoryAllowInto(b *testing.B) {
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	z := benchZones(b, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		reqs := [1]ratelimit.Request{{Zone: z, Key: "ip:192.0.2.1"}}
		var out [1]ratelimit.Result
		if err := m.AllowInto(reqs[:], out[:]); err != nil {
			b.Fatal(err)
		}
	}
}
