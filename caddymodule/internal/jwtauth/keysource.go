package jwtauth

import (
	"context"
	"fmt"
)

// KeySet verifies the signatures of one configured issuer's tokens with
// the Verifier's cached keys, under the same rules as Verify: a kid in
// the cached set is never refetched, an unknown kid waits for the next
// allowed refetch (shared with every other caller), and nothing a token
// sends evicts a key. Its VerifySignature method is go-oidc's
// oidc.KeySet, so OpenID Connect ID tokens and back-channel logout tokens
// (which anyone can post) get the guarantees bearer JWTs have.
type KeySet struct {
	v  *Verifier
	is *issuer
}

// KeySet returns the key set of the configured issuer iss, or nil when
// iss is not configured or allows no asymmetric algorithm.
func (v *Verifier) KeySet(iss string) *KeySet {
	is := v.issuers[iss]
	if is == nil || is.keys == nil {
		return nil
	}
	return &KeySet{v: v, is: is}
}

// VerifySignature checks the signature of a compact JWS with the
// issuer's keys and returns its payload. The `alg` must be an asymmetric
// algorithm on the issuer's allow-list (HS* never: a shared secret is no
// proof of who sent the token); no claim is checked, that is the caller's
// work. Errors are *Error values, as Verify's.
func (k *KeySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	if len(token) > k.v.opts.MaxTokenBytes {
		return nil, fail(ErrMalformed, ReasonTooLarge, fmt.Sprintf("token longer than %d bytes", k.v.opts.MaxTokenBytes))
	}
	t, perr := k.v.parse(token)
	if perr != nil {
		return nil, perr.withIssuer(k.is.cfg.Issuer)
	}
	alg := t.header.alg
	if !k.is.allows(alg) || algorithms[alg].symmetric {
		return nil, fail(ErrUnsupportedAlg, ReasonAlgNotAllowed, "alg "+quoteShort(alg)+" is not allowed").withIssuer(k.is.cfg.Issuer)
	}
	sc := newSigCheck(token, t)
	if err := k.is.keys.verify(ctx, sc, t.header.kid, k.is.minted(t)); err != nil {
		return nil, err.withIssuer(k.is.cfg.Issuer)
	}
	return t.payload, nil
}
