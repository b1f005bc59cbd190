package jwtauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxKeyTries bounds the signature checks spent on one token when its
// key is not pinned down by `kid` (no kid, or keys without kids).
const maxKeyTries = 8

// issuer is one trusted issuer, ready to verify its tokens.
type issuer struct {
	cfg      Config         // defaults applied
	required map[string]any // RequiredClaims, normalised
	keys     *keySet        // nil when only HS* is allowed
}

// allows reports whether alg is on the issuer's allow-list.
func (is *issuer) allows(alg string) bool { return slices.Contains(is.cfg.Algorithms, alg) }

// epoch is the issuer's key-removal epoch, for cache invalidation.
func (is *issuer) epoch() uint64 {
	if is.keys == nil {
		return 0
	}
	return is.keys.epoch.Load()
}

// verifySignature checks the token's signature with the issuer's keys:
// HS* only with the shared secret, asymmetric algorithms only with JWKS
// keys of the matching type (RSA for RS*/PS*, the named curve for ES*,
// Ed25519 for EdDSA), so no key is ever used with an algorithm of another
// family. alg must already be on the issuer's allow-list; go-jose is told
// to accept that one algorithm only.
func (is *issuer) verifySignature(ctx context.Context, token string, t *parsedToken) *Error {
	sc := newSigCheck(token, t)
	if algorithms[sc.alg].symmetric {
		if sc.verify(is.cfg.SharedSecret) {
			return nil
		}
		return sc.failure("HMAC does not match")
	}
	if is.keys == nil { // unreachable: an allowed asymmetric alg implies a key set
		return fail(ErrUnsupportedAlg, ReasonAlgNotAllowed, "no key set for an asymmetric algorithm")
	}
	return is.keys.verify(ctx, sc, t.header.kid, is.minted(t))
}

// minted is the time on our clock by which the token was surely minted:
// its (unverified) `iat` plus the clock skew plus one second, because
// `iat` is usually truncated to whole seconds (a token minted 0.9 s after
// a key set was fetched carries an iat before the fetch); zero without a
// valid iat.
func (is *issuer) minted(t *parsedToken) time.Time {
	iat, ok, err := numericDate(t.claims, "iat")
	if !ok || err != nil {
		return time.Time{}
	}
	return iat.Add(is.cfg.skew() + time.Second)
}

// verify checks sc's signature with the key set's keys: the cached set,
// and for a key it does not hold, the set of a fetch that started after
// the token arrived (see refetchUnknown). A key id in the cached set
// never waits nor refetches, whatever the signature: a forged token
// under a real kid costs one signature check and nothing else.
func (ks *keySet) verify(ctx context.Context, sc *sigCheck, kid string, minted time.Time) *Error {
	m := ks.arrive(minted) // before any fetch this token may start
	snap, ferr := ks.current(ctx)
	if snap == nil {
		return fail(ErrUnavailable, ReasonKeysUnavailable, "no signing keys could be fetched").withCause(ferr)
	}
	ok, known := sc.tryKeys(snap, kid)
	if ok {
		return nil
	}
	if !known && sc.parseErr == nil && !snap.removed[kid] {
		// The key may be new at the IdP: wait for a fetch that started
		// after this token arrived (or was minted), trying each newer
		// set installed meanwhile.
		tried := snap
		found := func(s *keySnapshot) bool {
			if s != nil && s != tried && sc.parseErr == nil {
				tried = s
				ok, known = sc.tryKeys(s, kid)
			}
			return ok || known
		}
		ferr = ks.refetchUnknown(ctx, m, found)
		found(ks.snap.Load()) // a set installed after the last look
		if ok {
			return nil
		}
		if !known && ctx.Err() != nil && errors.Is(ferr, ctx.Err()) {
			// Gave up waiting: the token was not judged.
			return fail(ErrUnavailable, ReasonKeysUnavailable, "gave up waiting for the issuer's keys").withCause(ferr)
		}
	}
	if known || kid == "" || sc.parseErr != nil {
		return sc.failure("no trusted key verifies the signature")
	}
	e := fail(ErrSignature, ReasonUnknownKey, "kid "+quoteShort(kid)+" is not in the issuer's key set")
	if ferr != nil {
		e = e.withCause(ferr)
	}
	return e
}

// sigCheck verifies one token's signature against candidate keys. A
// plain token (see parsePlain) is verified directly (verifyPlain); any
// other is handed to go-jose, only when a candidate key exists, so
// tokens with unknown kids cost no second parse.
type sigCheck struct {
	token    string
	alg      string
	payload  []byte
	tries    int
	jws      *jose.JSONWebSignature
	parseErr error
	plain    bool   // the token is plain: verify sig over input
	sig      []byte // a plain token's decoded signature
	signed   int    // a plain token's signing input length
	input    []byte // a plain token's signing input, once needed
}

// verify reports whether key verifies the signature over exactly the
// payload that was parsed.
func (sc *sigCheck) verify(key any) bool {
	if sc.alg == "Ed25519" {
		return sc.verifyEd25519(key)
	}
	if sc.plain {
		return sc.verifyPlain(key)
	}
	if sc.jws == nil && sc.parseErr == nil {
		sc.jws, sc.parseErr = jose.ParseSignedCompact(sc.token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(sc.alg)})
	}
	if sc.parseErr != nil {
		return false
	}
	got, err := sc.jws.Verify(key)
	return err == nil && bytes.Equal(got, sc.payload)
}

// failure is the error for a signature no key verified: ErrMalformed when
// go-jose could not parse the token, ErrSignature otherwise.
func (sc *sigCheck) failure(detail string) *Error {
	if sc.parseErr != nil {
		return fail(ErrMalformed, ReasonMalformed, "not a parseable JWS")
	}
	return fail(ErrSignature, ReasonBadSignature, detail)
}

// tryKeys tries the candidate keys for kid, at most maxKeyTries in all:
// the keys with that kid, then keys without a kid; with no kid, every
// key. known reports that the set has a key with that kid.
func (sc *sigCheck) tryKeys(s *keySnapshot, kid string) (ok, known bool) {
	if kid == "" {
		return sc.tryList(s.all), false
	}
	byKid := s.byKid[kid]
	if sc.tryList(byKid) {
		return true, true
	}
	return sc.tryList(s.noKid), len(byKid) > 0
}

func (sc *sigCheck) tryList(keys []verificationKey) bool {
	for _, k := range keys {
		if !k.fits(sc.alg) {
			continue
		}
		if sc.tries >= maxKeyTries || sc.parseErr != nil {
			return false
		}
		sc.tries++
		if sc.verify(k.key) {
			return true
		}
	}
	return false
}

// fits reports whether the key may verify alg: its type and curve must
// match the algorithm's family, and its own `alg`, when set, must be alg.
func (k verificationKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg && !sameEdDSA(k.alg, alg) {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" || alg == "Ed25519"
	}
	return false
}

// sameEdDSA reports whether a key labelled keyAlg may verify alg although
// the names differ: "EdDSA" (RFC 8037) and "Ed25519" (the fully-specified
// name of RFC 9864) name the same signature for an Ed25519 key, and
// providers moving to RFC 9864 label keys and tokens at different times.
func sameEdDSA(keyAlg, alg string) bool {
	return (keyAlg == "EdDSA" && alg == "Ed25519") || (keyAlg == "Ed25519" && alg == "EdDSA")
}
