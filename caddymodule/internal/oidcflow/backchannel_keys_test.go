package oidcflow

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// logoutClaims are valid back-channel logout token claims for idp.
func logoutClaims(idp *fakeIdP, now time.Time, jti string) map[string]any {
	return map[string]any{
		"iss": idp.issuer(), "aud": testClientID, "sub": "alice", "sid": "sid-1",
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": jti,
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
}

// TestBackchannelLogoutForgedUnderRealKid replays the suppression attack:
// right after a start (nothing cached), someone posts logout tokens
// forged under the provider's real kid; the genuine logout token the
// provider sends right after (and never retries) must still end the
// session.
func TestBackchannelLogoutForgedUnderRealKid(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	attacker := newIdP(t, clk.Now) // another key, published nowhere, same kid
	for i := range 20 {
		forged := attacker.sign(logoutClaims(idp, clk.Now(), "forged-"+string(rune('a'+i))))
		if _, err := c.VerifyLogoutToken(t.Context(), forged); !errors.Is(err, ErrLogoutToken) {
			t.Fatalf("forged logout token: %v, want ErrLogoutToken", err)
		}
	}
	lt, err := c.VerifyLogoutToken(t.Context(), idp.sign(logoutClaims(idp, clk.Now(), "genuine")))
	if err != nil {
		t.Fatalf("genuine logout token after forged ones under its kid: %v", err)
	}
	if lt.Subject != "alice" || lt.SID != "sid-1" {
		t.Fatalf("logout token = %+v", lt)
	}
}

// TestBackchannelLogoutRotatedKeyAfterFlood: logout tokens under unknown
// kids use up the JWKS refetch allowance; the provider then rotates to a
// new key. Its genuine logout token waits for the next refetch and ends
// the session; the whole flood costs one JWKS fetch per cooldown.
func TestBackchannelLogoutRotatedKeyAfterFlood(t *testing.T) {
	t.Parallel()
	const flood = 50
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	if err := c.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	forge := func(i int) string {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Error(err)
			return ""
		}
		b, _ := json.Marshal(logoutClaims(idp, clk.Now(), fmt.Sprintf("forged-%d", i)))
		return oidctest.SignIDToken(k, fmt.Sprintf("unknown-%d", i), oidc.ES256, string(b))
	}
	// Right after the start: the first token loads the keys (which
	// settles that its kid is unknown), the second refetches once.
	for i := range 2 {
		if _, err := c.VerifyLogoutToken(t.Context(), forge(i)); !errors.Is(err, ErrLogoutToken) {
			t.Fatalf("forged logout token: %v", err)
		}
	}
	before := idp.keyHits.Load()
	if before != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", before)
	}
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			if _, err := c.VerifyLogoutToken(t.Context(), forge(i+2)); !errors.Is(err, ErrLogoutToken) {
				t.Errorf("forged logout token %d: %v", i, err)
			}
		})
	}
	floodDone := make(chan struct{})
	go func() { wg.Wait(); close(floodDone) }()
	parked := func(n int) <-chan struct{} {
		ch := make(chan struct{})
		go func() { clk.BlockUntilTimers(n); close(ch) }()
		return ch
	}
	waiting := 0
	select {
	case <-parked(flood):
		waiting = flood
	case <-floodDone:
	}

	// The provider rotates to k2 and sends a logout token signed with it.
	k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rotated := &oidctest.Server{PublicKeys: []oidctest.PublicKey{
		{PublicKey: idp.key.Public(), KeyID: testKID, Algorithm: oidc.ES256},
		{PublicKey: k2.Public(), KeyID: "k2", Algorithm: oidc.ES256},
	}}
	rotated.SetIssuer(idp.issuer())
	idp.mu.Lock()
	idp.keys = rotated
	idp.mu.Unlock()
	clk.Advance(time.Second)
	b, _ := json.Marshal(logoutClaims(idp, clk.Now(), "genuine"))
	genuine := make(chan error, 1)
	go func() {
		_, err := c.VerifyLogoutToken(t.Context(), oidctest.SignIDToken(k2, "k2", oidc.ES256, string(b)))
		genuine <- err
	}()
	select {
	case err := <-genuine:
		t.Fatalf("the genuine logout token did not wait for the next key refetch: %v", err)
	case <-parked(waiting + 1):
	}
	if got := idp.keyHits.Load(); got != before {
		t.Fatalf("JWKS fetches during the cooldown = %d, want 0", got-before)
	}
	clk.Advance(DefaultKeyCooldown)
	if err := <-genuine; err != nil {
		t.Fatalf("genuine logout token with the rotated key: %v", err)
	}
	<-floodDone
	if got := idp.keyHits.Load() - before; got != 1 {
		t.Fatalf("JWKS fetches after the cooldown = %d, want 1", got)
	}
}
