package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow"
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNoNetworkIOAtConstruction(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	idp := newFakeIdP(t, es.jwk(true, true))
	clock := newFakeClock()
	newTestVerifier(t, idp, clock)
	// An unreachable issuer is fine too: nothing is fetched yet.
	v, err := New(Options{Issuers: []Config{{Issuer: "https://unreachable.invalid", Audiences: []string{"a"}}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_ = v.Close()
	if n := idp.discovery.Load() + idp.fetches.Load(); n != 0 {
		t.Fatalf("%d requests during construction, want 0", n)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	k2 := newECKey(t, "k2")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	ctx := context.Background()
	tok1 := mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatalf("Verify(k1): %v", err)
	}
	// The IdP rotates: k2 replaces k1. The first k2 token refetches.
	idp.setKeys(k2.jwk(true, true))
	tok2 := mint(t, k2, claimsAt(idp.issuer(), clock.Now()), nil)
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("Verify(k2) after rotation: %v", err)
	}
	if got := idp.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", got)
	}
	// k1 was removed: its cached token must not be served any more.
	_, err := v.Verify(ctx, tok1)
	assertFailure(t, err, ErrSignature, ReasonUnknownKey, tok1)
	// Discovery ran once: the jwks_uri is remembered.
	if got := idp.discovery.Load(); got != 1 {
		t.Fatalf("discovery fetches = %d, want 1", got)
	}
}

func TestScheduledRefresh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cacheCtl string
		fresh    time.Duration // refresh happens after this long
	}{
		{name: "no cache-control: refresh interval", fresh: DefaultRefreshInterval},
		{name: "max-age", cacheCtl: "public, max-age=300", fresh: 300 * time.Second},
		{name: "max-age below minimum", cacheCtl: "max-age=5", fresh: DefaultMinRefreshInterval},
		{name: "max-age above maximum", cacheCtl: "max-age=9999999", fresh: DefaultMaxRefreshInterval},
		{name: "no-cache", cacheCtl: "max-age=600, no-cache", fresh: DefaultMinRefreshInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k1 := newECKey(t, "k1")
			idp := newFakeIdP(t, k1.jwk(true, true))
			idp.cacheCtl = tt.cacheCtl
			clock := newFakeClock()
			v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
			ctx := context.Background()
			verify := func() {
				t.Helper()
				c := claimsAt(idp.issuer(), clock.Now())
				if _, err := v.Verify(ctx, mint(t, k1, c, nil)); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			}
			verify()
			clock.Advance(tt.fresh - time.Second)
			verify()
			if got := idp.fetches.Load(); got != 1 {
				t.Fatalf("fetches before the key set is stale = %d, want 1", got)
			}
			clock.Advance(time.Second)
			verify() // served from the stale set, refresh in the background
			waitFor(t, "background refresh", func() bool { return idp.fetches.Load() == 2 })
		})
	}
}

func TestJWKSDownCachedKeysKeepWorking(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	idp.down.Store(true)
	for i := range 5 {
		clock.Advance(DefaultRefreshInterval) // stale: every call tries (with backoff) a refresh
		requests := func() int64 { return idp.discovery.Load() + idp.fetches.Load() }
		before := requests()
		if _, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
			t.Fatalf("round %d: Verify with the JWKS down: %v", i, err)
		}
		waitFor(t, "refresh attempt", func() bool { return requests() > before })
		waitFor(t, "refresh attempt to finish", func() bool {
			is := v.issuers[idp.issuer()]
			is.keys.mu.Lock()
			defer is.keys.mu.Unlock()
			return is.keys.inflight == nil
		})
	}
	// An unknown kid while down is still a signature failure, with the
	// fetch error as its cause.
	clock.Advance(time.Hour)
	k2 := newECKey(t, "k2")
	_, err := v.Verify(ctx, mint(t, k2, claimsAt(idp.issuer(), clock.Now()), nil))
	assertFailure(t, err, ErrSignature, ReasonUnknownKey, "")
	if !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %q does not carry the fetch failure", err)
	}
}

func TestJWKSDownWithoutCacheIsUnavailable(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	idp.down.Store(true)
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	ctx := context.Background()
	tok := func() string { return mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil) }
	_, err := v.Verify(ctx, tok())
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	if got := idp.discovery.Load(); got != 1 {
		t.Fatalf("discovery requests = %d, want 1", got)
	}
	// Within the backoff, no new request: fail fast.
	for range 100 {
		_, err = v.Verify(ctx, tok())
		assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	}
	if got := idp.discovery.Load(); got != 1 {
		t.Fatalf("discovery requests during backoff = %d, want 1", got)
	}
	// Backoff grows: 1 s, then 2 s.
	clock.Advance(backoffMin)
	_, err = v.Verify(ctx, tok())
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	clock.Advance(backoffMin)
	_, _ = v.Verify(ctx, tok())
	if got := idp.discovery.Load(); got != 2 {
		t.Fatalf("discovery requests after 1 s + 1 s = %d, want 2 (second backoff is 2 s)", got)
	}
	// The IdP recovers: the next attempt after the backoff succeeds.
	idp.down.Store(false)
	clock.Advance(backoffMax)
	if _, err := v.Verify(ctx, tok()); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
}

// TestUnknownKidFlood: forged tokens with random kids, minted (by their
// iat) before the cached set was fetched, fail at once without any
// fetch: that set already settles that their keys do not exist. Tokens
// without iat or minted later wait for the next fetch instead (see
// TestRotatedKeyAfterUnknownKidFlood), one per cooldown.
func TestUnknownKidFlood(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	flood := func(n int) {
		t.Helper()
		c := claimsAt(idp.issuer(), clock.Now())
		c["iat"] = clock.Now().Add(-DefaultClockSkew - time.Minute).Unix()
		for range n {
			kid := fmt.Sprintf("kid-%016x", rand.Uint64())
			tok := hdrToken(t, `{"alg":"ES256","kid":"`+kid+`"}`, c)
			_, err := v.Verify(ctx, tok)
			if !errors.Is(err, ErrSignature) || ReasonOf(err) != ReasonUnknownKey {
				t.Fatalf("Verify(random kid): %v", err)
			}
		}
	}
	flood(10000)
	if got := idp.fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetches = %d after 10,000 stale unknown kids, want 1 (the initial one)", got)
	}
	if n := clock.Timers(); n != 0 {
		t.Fatalf("%d stale tokens wait for a refetch", n)
	}
	// Once the set is older than the tokens, the first one refetches;
	// the rest of the cooldown's tokens are settled by that fetch.
	clock.Advance(3 * time.Minute)
	flood(1000)
	if got := idp.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches = %d after the set aged, want 2", got)
	}
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	t.Parallel()
	const callers = 50
	k1 := newECKey(t, "k1")
	k2 := newECKey(t, "k2")
	tests := []struct {
		name string
		prep func(*testing.T, *Verifier, *fakeIdP, *fakeClock) // before the gate closes
		key  signingKey
	}{
		{name: "cold start", key: k1},
		{name: "unknown kid", key: k2, prep: func(t *testing.T, v *Verifier, idp *fakeIdP, clock *fakeClock) {
			if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
				t.Fatal(err)
			}
			idp.setKeys(k1.jwk(true, true), k2.jwk(true, true))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := newFakeIdP(t, k1.jwk(true, true))
			clock := newFakeClock()
			v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
			if tt.prep != nil {
				tt.prep(t, v, idp, clock)
			}
			before := idp.fetches.Load()
			gate := idp.hold()
			tok := mint(t, tt.key, claimsAt(idp.issuer(), clock.Now()), nil)
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range callers {
				wg.Go(func() {
					if _, err := v.Verify(context.Background(), tok); err != nil {
						t.Errorf("Verify: %v", err)
						failed.Add(1)
					}
				})
			}
			waitFor(t, "the fetch to reach the IdP", func() bool { return idp.fetches.Load() > before })
			time.Sleep(20 * time.Millisecond) // let every caller reach the wait
			idp.release(gate)
			wg.Wait()
			if got := idp.fetches.Load() - before; got != 1 {
				t.Fatalf("%d concurrent misses made %d JWKS fetches, want 1", callers, got)
			}
			if failed.Load() != 0 {
				t.Fatalf("%d callers failed", failed.Load())
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	gate := idp.hold()
	defer idp.release(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap the context's", err)
	}
}

func TestKeysWithoutKid(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	rs := newRSAKey(t, "rs", "RS256", 0)
	ed := newEdKey(t, "ed")
	idp := newFakeIdP(t, rs.jwk(false, false), es.jwk(false, false), ed.jwk(false, false))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	tests := []struct {
		name string
		key  signingKey
		kid  any // header kid; nil: none
	}{
		{name: "ES256 without kid", key: es},
		{name: "RS256 without kid", key: rs},
		{name: "EdDSA without kid", key: ed},
		{name: "token kid, JWKS without kids", key: es, kid: "whatever"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := tt.key
			k.kid = ""
			extra := map[string]any{}
			if tt.kid != nil {
				extra["kid"] = tt.kid
			}
			if _, err := v.Verify(context.Background(), mint(t, k, claimsAt(idp.issuer(), clock.Now()), extra)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestCloseStopsFetches(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	gate := idp.hold()
	defer idp.release(gate)
	clock := newFakeClock()
	v, err := New(Options{Issuers: []Config{{Issuer: idp.issuer(), Audiences: []string{testAudience}}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
		done <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return idp.fetches.Load() == 1 })
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify during Close: %v, want ErrUnavailable", err)
	}
	_, err = v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errClosed) {
		t.Fatalf("Verify after Close: %v", err)
	}
	_ = v.Close() // idempotent
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Fatalf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(1000); got != backoffMax {
		t.Fatalf("backoff(1000) = %v", got)
	}
}
