package jwtauth

import (
	"context"
	"strings"
	"testing"
)

// TestVerifyEd25519 covers RFC 9864's fully-specified "Ed25519": tokens
// under that name verify with Ed25519 keys whether the JWK says
// "Ed25519", "EdDSA" or nothing, and never with a key of another type,
// a changed signature or a signature of the wrong size.
func TestVerifyEd25519(t *testing.T) {
	t.Parallel()
	named := newEdKey(t, "named")
	named.alg = "Ed25519"
	legacy := newEdKey(t, "legacy") // JWK alg "EdDSA"
	bare := newEdKey(t, "bare")
	rs := newRSAKey(t, "rs", "RS256", 0)
	idp := newFakeIdP(t, named.jwk(true, true), legacy.jwk(true, true), bare.jwk(true, false), rs.jwk(true, false))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	ctx := context.Background()

	asEd25519 := func(k signingKey) signingKey { k.alg = "Ed25519"; return k }
	for _, k := range []signingKey{named, asEd25519(legacy), asEd25519(bare)} {
		if _, err := v.Verify(ctx, mint(t, k, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
			t.Errorf("Ed25519 token under key %q: %v", k.kid, err)
		}
	}
	// A key labelled Ed25519 also verifies the polymorphic name.
	asEdDSA := named
	asEdDSA.alg = "EdDSA"
	if _, err := v.Verify(ctx, mint(t, asEdDSA, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
		t.Errorf("EdDSA token under an Ed25519-labelled key: %v", err)
	}

	good := mint(t, named, claimsAt(idp.issuer(), clock.Now()), nil)
	dot := strings.LastIndexByte(good, '.')
	sig := good[dot+1:]
	flipped := []byte(sig)
	if flipped[3] == 'A' {
		flipped[3] = 'B'
	} else {
		flipped[3] = 'A'
	}
	cases := map[string]struct {
		token  string
		want   error
		reason Reason
	}{
		"changed signature":  {good[:dot+1] + string(flipped), ErrSignature, ReasonBadSignature},
		"short signature":    {good[:dot+1] + sig[:40], ErrMalformed, ReasonMalformed},
		"signature not b64":  {good[:dot+1] + "*" + sig[1:], ErrMalformed, ReasonMalformed},
		"changed payload":    {strings.Replace(good, ".", ".e", 1), ErrMalformed, ReasonMalformed},
		"rsa key by kid":     {mint(t, signingKey{kid: "rs", alg: "Ed25519", key: named.key}, claimsAt(idp.issuer(), clock.Now()), nil), ErrSignature, ReasonBadSignature},
		"unknown kid, other": {mint(t, signingKey{kid: "named", alg: "Ed25519", key: newEdKey(t, "x").key}, claimsAt(idp.issuer(), clock.Now()), nil), ErrSignature, ReasonBadSignature},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.token)
			assertFailure(t, err, tc.want, tc.reason, tc.token)
		})
	}
}
