package ratelimit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStrictest(t *testing.T) {
	t.Parallel()
	ok := func(zone string, remaining int, reset time.Duration) Result {
		return Result{Zone: zone, Allowed: true, Remaining: remaining, ResetAfter: reset}
	}
	no := func(zone string, retry time.Duration) Result {
		return Result{Zone: zone, RetryAfter: retry}
	}
	tests := []struct {
		name    string
		rs      []Result
		want    string
		allowed bool
	}{
		{"none", nil, "", true},
		{"one", []Result{ok("a", 3, 0)}, "a", true},
		{"fewest remaining", []Result{ok("a", 3, 0), ok("b", 1, 0), ok("c", 2, 0)}, "b", true},
		{"tie: longest reset", []Result{ok("a", 1, time.Second), ok("b", 1, time.Minute)}, "b", true},
		{"refusal wins", []Result{ok("a", 0, time.Hour), no("b", time.Second)}, "b", false},
		{"longest retry", []Result{no("a", time.Second), no("b", time.Minute), ok("c", 0, 0)}, "b", false},
		{"store over on_error", []Result{{Zone: "a", Allowed: true, Source: SourceOnError}, ok("b", 5, 0)}, "b", true},
		{"skipped last", []Result{{Zone: "a", Allowed: true, Source: SourceSkipped}, ok("b", 5, 0)}, "b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, found := Strictest(tt.rs)
			if found != (len(tt.rs) > 0) || r.Zone != tt.want {
				t.Errorf("Strictest = %q, %v; want %q", r.Zone, found, tt.want)
			}
			if Allowed(tt.rs) != tt.allowed {
				t.Errorf("Allowed = %v, want %v", !tt.allowed, tt.allowed)
			}
		})
	}
}

func TestSourceString(t *testing.T) {
	t.Parallel()
	for s, want := range map[Source]string{
		SourceStore: "store", SourceDenyCache: "deny_cache", SourceOnError: "on_error", SourceSkipped: "skipped", 9: "source(9)",
	} {
		if s.String() != want {
			t.Errorf("Source(%d).String() = %q, want %q", uint8(s), s.String(), want)
		}
	}
}

// TestKeyCacheSameKeys: BucketKey (through the cache) returns what
// computing the key returns, for hits, misses, evictions, keys too long
// to remember and keys that differ only in where zone and key split.
func TestKeyCacheSameKeys(t *testing.T) {
	t.Parallel()
	for _, secret := range [][]byte{nil, []byte("0123456789abcdef0123456789abcdef")} {
		client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never used
		t.Cleanup(func() { _ = client.Close() })
		r, err := NewRedis(client, RedisOptions{KeySecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		pairs := [][2]string{{"a", "bc"}, {"ab", "c"}, {"z", strings.Repeat("k", maxCachedKeyLen)}, {"z", ""}}
		for i := range 3 * keyCacheShards * keyCacheShardSize {
			pairs = append(pairs, [2]string{fmt.Sprintf("zone%d", i%3), fmt.Sprintf("user-%d", i)})
		}
		for round := range 2 {
			for _, p := range pairs {
				if got, want := r.BucketKey(p[0], p[1]), r.bucketKey(p[0], p[1]); got != want {
					t.Fatalf("round %d: BucketKey(%q, %q) = %q, want %q", round, p[0], p[1], got, want)
				}
			}
		}
		n := 0
		for i := range r.keys.shards {
			if l := len(r.keys.shards[i].m); l > keyCacheShardSize {
				t.Fatalf("shard %d holds %d entries, bound %d", i, l, keyCacheShardSize)
			} else {
				n += l
			}
		}
		if n == 0 {
			t.Fatal("nothing remembered")
		}
	}
}
