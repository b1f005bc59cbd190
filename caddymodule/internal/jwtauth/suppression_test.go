package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// These tests replay attacks in which unauthenticated requests try to
// make a genuine token fail: nothing an attacker sends may turn "the
// token's key is in the issuer's JWKS" into a failure, and a genuine
// token whose key is newer than the cached set waits for the next
// allowed fetch instead of failing.

// TestForgedTokenUnderRealKidAfterRestart: right after a start (nothing
// cached), a token forged under the issuer's real kid is refused, and
// the genuine token sent right after it is accepted without a refetch.
func TestForgedTokenUnderRealKidAfterRestart(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	attacker := newECKey(t, "k1") // same kid, another key
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
	ctx := context.Background()
	c := claimsAt(idp.issuer(), clock.Now())
	for i := range 100 {
		forged := mint(t, attacker, c, nil)
		_, err := v.Verify(ctx, forged)
		assertFailure(t, err, ErrSignature, ReasonBadSignature, forged)
		if i == 0 && clock.Timers() != 0 {
			t.Fatal("a forged token under a known kid waits for a refetch")
		}
	}
	if _, err := v.Verify(ctx, mint(t, k1, c, nil)); err != nil {
		t.Fatalf("genuine token after forged ones: %v", err)
	}
	if got := idp.fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetches = %d, want 1 (forged signatures must not refetch)", got)
	}
}

// TestRotatedKeyAfterUnknownKidFlood: an attacker floods tokens with
// unknown kids, using up the refetch allowance; the issuer then rotates
// to a new key. The genuine token signed with it waits for the next
// allowed fetch and succeeds after exactly one more fetch, and the whole
// flood costs one fetch per cooldown.
func TestRotatedKeyAfterUnknownKidFlood(t *testing.T) {
	t.Parallel()
	const flood = 200
	k1 := newECKey(t, "k1")
	k2 := newECKey(t, "k2")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	bogus := func(i int) string {
		return hdrToken(t, fmt.Sprintf(`{"alg":"ES256","kid":"forged-%d"}`, i), claimsAt(idp.issuer(), clock.Now()))
	}
	// The first unknown kid refetches at once (and finds nothing).
	_, err := v.Verify(ctx, bogus(0))
	assertFailure(t, err, ErrSignature, ReasonUnknownKey, "")
	if got := idp.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches after the first unknown kid = %d, want 2", got)
	}
	// The rest of the flood arrives within the cooldown.
	var wg sync.WaitGroup
	floodErrs := make(chan error, flood)
	for i := range flood {
		wg.Go(func() {
			_, err := v.Verify(ctx, bogus(i+1))
			floodErrs <- err
		})
	}
	parked := func(n int) <-chan struct{} {
		ch := make(chan struct{})
		go func() { clock.BlockUntilTimers(n); close(ch) }()
		return ch
	}
	floodDone := make(chan struct{})
	go func() { wg.Wait(); close(floodDone) }()
	waiting := 0
	select {
	case <-parked(flood):
		waiting = flood
	case <-floodDone: // failing fast is allowed for tokens nobody can verify
	}
	// The issuer rotates; a genuine token with the new key arrives.
	idp.setKeys(k1.jwk(true, true), k2.jwk(true, true))
	clock.Advance(DefaultUnknownKeyCooldown / 10)
	genuine := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, mint(t, k2, claimsAt(idp.issuer(), clock.Now()), nil))
		genuine <- err
	}()
	select {
	case err := <-genuine:
		t.Fatalf("the genuine token with the rotated key did not wait for the next fetch: %v", err)
	case <-parked(waiting + 1):
	}
	if got := idp.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches within the cooldown = %d, want 2", got)
	}
	clock.Advance(DefaultUnknownKeyCooldown)
	if err := <-genuine; err != nil {
		t.Fatalf("genuine token with the rotated key: %v", err)
	}
	<-floodDone
	close(floodErrs)
	for err := range floodErrs {
		assertFailure(t, err, ErrSignature, ReasonUnknownKey, "")
	}
	if got := idp.fetches.Load(); got != 3 {
		t.Fatalf("JWKS fetches = %d, want 3 (initial, first unknown kid, one after the cooldown)", got)
	}
}

// TestUnknownKidWaitHonoursContext: a token that gives up waiting for the
// next refetch was not judged: ErrUnavailable (503), not a 401.
func TestUnknownKidWaitHonoursContext(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.CacheSize = -1 })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}
	other := newECKey(t, "k-new")
	_, err := v.Verify(ctx, mint(t, other, claimsAt(idp.issuer(), clock.Now()), nil)) // uses up the refetch
	assertFailure(t, err, ErrSignature, ReasonUnknownKey, "")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = v.Verify(cancelled, mint(t, other, claimsAt(idp.issuer(), clock.Now()), nil))
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap the context's", err)
	}
	if got := idp.fetches.Load(); got != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", got)
	}
}

// TestKeySet: the key set other verifiers (OpenID Connect ID and logout
// tokens) use shares the Verifier's keys and rules: HS* never, the
// payload of a verified token back, forged signatures refused without a
// refetch.
func TestKeySet(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	secret := []byte(strings.Repeat("s", 32))
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.Issuers[0].SharedSecret, o.Issuers[0].Algorithms = secret, []string{"ES256", "HS256"}
		o.Issuers = append(o.Issuers, Config{Issuer: "hs-only", Audiences: []string{testAudience}, SharedSecret: secret})
	})
	if v.KeySet("https://unknown.example") != nil || v.KeySet("hs-only") != nil {
		t.Fatal("KeySet for an unknown or HS-only issuer is not nil")
	}
	ks := v.KeySet(idp.issuer())
	ctx := context.Background()
	c := claimsAt(idp.issuer(), clock.Now())
	tok := mint(t, k1, c, nil)
	payload, err := ks.VerifySignature(ctx, tok)
	if err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	if string(payload) != mustJSON(t, c) {
		t.Fatalf("payload %s", payload)
	}
	_, err = ks.VerifySignature(ctx, mint(t, signingKey{alg: "HS256", hs: secret}, c, nil))
	assertFailure(t, err, ErrUnsupportedAlg, ReasonAlgNotAllowed, "")
	_, err = ks.VerifySignature(ctx, mint(t, newECKey(t, "k1"), c, nil))
	assertFailure(t, err, ErrSignature, ReasonBadSignature, "")
	_, err = ks.VerifySignature(ctx, "not a token")
	assertFailure(t, err, ErrMalformed, ReasonMalformed, "")
	if got := idp.fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetches = %d, want 1", got)
	}
}
