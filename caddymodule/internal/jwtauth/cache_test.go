package jwtauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// cacheToken is the i-th distinct test token.
func cacheToken(i int) string {
	return fmt.Sprintf("token-%d", i)
}

// put and get store and look up the i-th test token.
func (c *tokenCache) putN(i int, val *cachedToken, exp, now int64) {
	c.put(c.key(cacheToken(i)), cacheToken(i), val, exp, now)
}

func (c *tokenCache) getN(i int, now int64) *cachedToken {
	return c.get(c.key(cacheToken(i)), cacheToken(i), now)
}

func TestTokenCacheSize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 2, 63, 64, 127, 128, 1000, 10000, 12345} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			c := newTokenCache(size)
			total := 0
			for i := range c.shards {
				total += c.shards[i].limit
				if c.shards[i].limit == 0 {
					t.Fatalf("shard %d has no slots", i)
				}
			}
			if total != size {
				t.Fatalf("shard limits sum to %d, want %d", total, size)
			}
			for i := range 5 * size {
				c.putN(i, &cachedToken{}, 100, 0)
			}
			if got := c.len(); got != size {
				t.Fatalf("len after %d puts = %d, want %d", 5*size, got, size)
			}
		})
	}
}

func TestTokenCacheExpiry(t *testing.T) {
	t.Parallel()
	c := newTokenCache(10)
	val := &cachedToken{}
	c.putN(1, val, 100, 50)
	tests := []struct {
		name string
		now  int64
		hit  bool
	}{
		{name: "before exp", now: 99, hit: true},
		{name: "at exp", now: 100},
		{name: "after exp", now: 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.getN(1, tt.now); (got != nil) != tt.hit {
				t.Fatalf("get at %d = %v, want hit %v", tt.now, got, tt.hit)
			}
		})
	}
	c.putN(2, val, 10, 50) // already expired: not stored
	if c.getN(2, 0) != nil {
		t.Fatal("an already expired entry was stored")
	}
}

func TestTokenCacheEvictsExpiredFirst(t *testing.T) {
	t.Parallel()
	c := newTokenCache(4)
	for i := range 4 {
		c.putN(i, &cachedToken{}, 1000, 0)
		c.getN(i, 0) // referenced
	}
	c.putN(2, &cachedToken{}, 10, 0) // now expires early
	c.putN(9, &cachedToken{}, 1000, 20)
	if c.getN(2, 20) != nil || c.getN(9, 20) == nil {
		t.Fatal("the expired entry was not the victim")
	}
	for _, i := range []int{0, 1, 3} {
		if c.getN(i, 20) == nil {
			t.Fatalf("live referenced entry %d evicted", i)
		}
	}
}

func TestTokenCacheHotEntriesSurviveFlood(t *testing.T) {
	t.Parallel()
	c := newTokenCache(1000)
	const hot = 100
	for i := range hot {
		c.putN(i, &cachedToken{}, 1e18, 0)
	}
	for i := hot; i < 50_000; i++ {
		c.putN(i, &cachedToken{}, 1e18, 0) // one-shot tokens
		if i%200 == 0 {                    // the hot tokens keep being used
			for h := range hot {
				c.getN(h, 0)
			}
		}
	}
	missing := 0
	for h := range hot {
		if c.getN(h, 0) == nil {
			missing++
		}
	}
	if missing != 0 {
		t.Fatalf("%d of %d hot tokens evicted by a flood of one-shot tokens", missing, hot)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := newTokenCache(256)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				n := g*1000 + i%1000
				if c.getN(n, 0) == nil {
					c.putN(n, &cachedToken{}, 1e18, 0)
				}
			}
		})
	}
	wg.Wait()
	if got := c.len(); got != 256 {
		t.Fatalf("len = %d, want 256", got)
	}
}

// TestVerifierCacheNeverPastExp checks at the Verifier level that a
// cached token stops being accepted at its exp (with no clock skew, so
// re-verification refuses it too).
func TestVerifierCacheNeverPastExp(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	idp := newFakeIdP(t, es.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.Issuers[0].ClockSkew = new(time.Duration(0)) })
	c := claimsAt(idp.issuer(), clock.Now())
	c["exp"] = clock.Now().Add(10 * time.Second).Unix()
	tok := mint(t, es, c, nil)
	ctx := context.Background()
	for range 3 {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if v.CacheLen() != 1 {
		t.Fatalf("CacheLen = %d, want 1", v.CacheLen())
	}
	clock.Advance(9*time.Second + 999*time.Millisecond)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify 1 ms before exp: %v", err)
	}
	clock.Advance(time.Millisecond)
	_, err := v.Verify(ctx, tok)
	assertFailure(t, err, ErrExpired, ReasonExpired, tok)
}

// hsToken mints an HS256 token quickly, without go-jose.
func hsToken(secret []byte, header string, claims string) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

// TestVerifierCacheBound verifies 200,000 distinct valid tokens (20,000
// under -race, still twice the bound) and checks the cache stays at its
// bound; it logs the heap the cache holds. Not parallel: other tests
// would pollute the heap figure.
func TestVerifierCacheBound(t *testing.T) {
	tokens := 200_000
	if raceEnabled {
		tokens = 20_000
	}
	secret := []byte(strings.Repeat("s", 32))
	clock := newFakeClock()
	iss := "https://issuer.example.com"
	v, err := New(Options{
		Issuers: []Config{{Issuer: iss, Audiences: []string{testAudience}, SharedSecret: secret, GroupClaims: []string{"groups"}}},
		Now:     clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	exp := clock.Now().Add(time.Hour).Unix()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < tokens; i += workers {
				claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"user-%d","exp":%d,"scope":"orders:read orders:write","email":"user-%d@example.com","groups":["staff","dev"],"jti":"%d"}`, iss, testAudience, i, exp, i, i)
				if _, err := v.Verify(context.Background(), hsToken(secret, `{"alg":"HS256","typ":"at+jwt"}`, claims)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Verify: %v", err)
	}
	if got := v.CacheLen(); got != DefaultCacheSize {
		t.Fatalf("CacheLen after %d tokens = %d, want %d", tokens, got, DefaultCacheSize)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("after %d distinct tokens: %d cached, heap held %.1f MiB (%.0f B per entry)", tokens, v.CacheLen(), float64(held)/(1<<20), float64(held)/DefaultCacheSize)
	if held > 64<<20 {
		t.Fatalf("cache holds %d bytes after %d tokens, want well under 64 MiB", held, tokens)
	}
	runtime.KeepAlive(v)
}

// TestTokenCacheBindsWholeToken forces two tokens onto one key: the
// cache must answer only for the token that was stored, whatever the
// hash says, including a token that differs in its last byte only.
func TestTokenCacheBindsWholeToken(t *testing.T) {
	t.Parallel()
	c := newTokenCache(16)
	valid := strings.Repeat("v", 799) + "A"
	val := &cachedToken{}
	c.put(42, valid, val, 100, 0)
	for _, tc := range []struct {
		name, token string
		hit         bool
	}{
		{"same token", valid, true},
		{"last byte differs", strings.Repeat("v", 799) + "B", false},
		{"prefix", valid[:400], false},
		{"longer", valid + "x", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.get(42, tc.token, 0); (got != nil) != tc.hit {
				t.Fatalf("get = %v, want hit %v", got, tc.hit)
			}
		})
	}
	other := strings.Repeat("o", 800)
	c.put(42, other, &cachedToken{}, 100, 0) // a colliding token replaces the entry
	if c.get(42, valid, 0) != nil || c.get(42, other, 0) == nil {
		t.Fatal("a colliding token did not replace the entry, or the replaced token still hits")
	}
	if c.key(valid) == c.key(valid[:799]+"B") {
		t.Fatal("tokens differing in their last byte share a key")
	}
	if newTokenCache(16).key(valid) == c.key(valid) && newTokenCache(16).key(valid) == c.key(valid) {
		t.Fatal("two caches share their hash seed")
	}
}
