package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// diffEnv holds two verifiers of one issuer that differ only in how they
// read tokens: cur reads with parse (plain tokens verified without
// go-jose), old with parseLegacy (every token through encoding/json and
// go-jose, as before the plain path existed).
type diffEnv struct {
	iss      string
	now      time.Time
	cur, old *Verifier
	secret   []byte
	rsa      *rsa.PrivateKey // kid "rs", no alg: RS* and PS*
	rsaNoKid *rsa.PrivateKey // no kid: tried for unknown kids
	ec       map[string]*ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	pubs     []any // every public key and the secret, for cross checks
}

// allAlgorithms is every algorithm a Config may allow.
var allAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "HS256", "HS384", "HS512"}

// newDiffEnv builds the environment: one issuer allowing every
// algorithm, with an RSA key, an RSA key without kid, one EC key per
// curve, an Ed25519 key and a 64-byte shared secret; group claims at the
// top level and in an object. Both verifiers have their cache disabled.
func newDiffEnv(t testing.TB) *diffEnv {
	t.Helper()
	e := &diffEnv{
		secret:   []byte(strings.Repeat("s3cr3t-", 10)[:64]),
		rsa:      testRSAKey(t, 0),
		rsaNoKid: testRSAKey(t, 1),
		ec:       map[string]*ecdsa.PrivateKey{},
	}
	jwks := []jose.JSONWebKey{
		{Key: e.rsa.Public(), KeyID: "rs", Use: "sig"},
		{Key: e.rsaNoKid.Public(), Use: "sig"},
	}
	for alg, c := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.ec[alg] = k
		jwks = append(jwks, jose.JSONWebKey{Key: k.Public(), KeyID: strings.ToLower(alg), Use: "sig"})
		e.pubs = append(e.pubs, k.Public())
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.ed = ed
	jwks = append(jwks, jose.JSONWebKey{Key: ed.Public(), KeyID: "ed", Use: "sig"})
	e.pubs = append(e.pubs, e.rsa.Public(), e.rsaNoKid.Public(), ed.Public(), e.secret, []byte("short"))
	idp := newFakeIdP(t, jwks...)
	// Each verifier has its own clock, which an unknown kid's wait for
	// the (1 ns) cooldown advances, so no token waits and both verifiers
	// see the same times as long as they judge tokens alike.
	curClock, oldClock := newFakeClock(), newFakeClock()
	e.iss, e.now = idp.issuer(), curClock.Now()
	opts := func(clock *fakeClock) func(o *Options) {
		return func(o *Options) {
			o.CacheSize = -1
			o.UnknownKeyCooldown = time.Nanosecond
			o.After = func(d time.Duration) <-chan time.Time {
				clock.Advance(d)
				c := make(chan time.Time, 1)
				c <- clock.Now()
				return c
			}
			o.Issuers[0].Algorithms = allAlgorithms
			o.Issuers[0].SharedSecret = e.secret
			o.Issuers[0].GroupClaims = []string{"groups", "realm_access.roles"}
		}
	}
	e.cur = newTestVerifier(t, idp, curClock, opts(curClock))
	e.old = newTestVerifier(t, idp, oldClock, opts(oldClock))
	e.old.parse = parseLegacy
	for _, v := range []*Verifier{e.cur, e.old} {
		if err := v.Warm(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// sign returns the signature of input under alg with the
// environment's key for alg (RSA for RS*/PS*, the curve's key for ES*,
// Ed25519 for EdDSA/Ed25519, the secret for HS*), or junk for another alg.
func (e *diffEnv) sign(t testing.TB, alg string, input []byte) []byte {
	t.Helper()
	var key any
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		key = e.rsa
	case strings.HasPrefix(alg, "ES"):
		key = e.ec[alg]
	case alg == "EdDSA" || alg == "Ed25519":
		key = e.ed
	case strings.HasPrefix(alg, "HS"):
		key = e.secret
	}
	return signWith(t, alg, key, input)
}

// signWith signs input under alg with key (a private key or an HMAC
// secret); an algorithm or key it cannot use yields junk bytes.
func signWith(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	if _, known := algorithms[alg]; !known || key == nil {
		return []byte("not a signature")
	}
	h := shaFor(alg[len(alg)-3:])
	digest := hashOf(h, input)
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, k, h, digest)
		}
	case *ecdsa.PrivateKey:
		r, s, e := ecdsa.Sign(rand.Reader, k, digest)
		if e != nil {
			t.Fatal(e)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	case []byte:
		m := hmac.New(h.New, k)
		m.Write(input)
		sig = m.Sum(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// token assembles a compact JWS from header and claims JSON texts, signed
// under alg over the encoded header and payload.
func (e *diffEnv) token(t testing.TB, alg, headerJSON, claimsJSON string) string {
	t.Helper()
	input := enc.EncodeToString([]byte(headerJSON)) + "." + enc.EncodeToString([]byte(claimsJSON))
	return input + "." + enc.EncodeToString(e.sign(t, alg, []byte(input)))
}

// compare verifies token with both verifiers, and its signature with
// both key sets, and fails t unless the outcomes are identical: the same
// principal (claims included), or errors of the same kind, reason and
// text. It returns the current verifier's outcome.
func (e *diffEnv) compare(t testing.TB, token string) error {
	t.Helper()
	ctx := context.Background()
	p1, err1 := e.cur.Verify(ctx, token)
	p2, err2 := e.old.Verify(ctx, token)
	if !sameOutcome(err1, err2) || !reflect.DeepEqual(p1, p2) {
		t.Errorf("Verify differs:\n plain path:  %v %+v\n legacy path: %v %+v", err1, p1, err2, p2)
	}
	b1, serr1 := e.cur.KeySet(e.iss).VerifySignature(ctx, token)
	b2, serr2 := e.old.KeySet(e.iss).VerifySignature(ctx, token)
	if !sameOutcome(serr1, serr2) || !reflect.DeepEqual(b1, b2) {
		t.Errorf("VerifySignature differs:\n plain path:  %v %q\n legacy path: %v %q", serr1, b1, serr2, b2)
	}
	return err1
}

// sameOutcome reports whether two verification errors are the same:
// both nil, or the same sentinel kinds, reason and message.
func sameOutcome(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	for _, kind := range []error{ErrMalformed, ErrUnsupportedAlg, ErrSignature, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience, ErrClaims, ErrUnavailable} {
		if errors.Is(a, kind) != errors.Is(b, kind) {
			return false
		}
	}
	return ReasonOf(a) == ReasonOf(b) && a.Error() == b.Error()
}

// samePlainParse fails t unless parsePlain's reading of token, when it
// has one, is exactly parseLegacy's, and parse's outcome is
// parseLegacy's. It reports whether the token is plain.
func samePlainParse(t testing.TB, token string) bool {
	t.Helper()
	pt := parsePlain(token)
	lt, lerr := parseLegacy(token)
	if pt != nil {
		if lerr != nil {
			t.Fatalf("parsePlain accepts what parseLegacy refuses (%v): %q", lerr, token)
		}
		if pt.header != lt.header || !reflect.DeepEqual(pt.payload, lt.payload) || !strictSame(pt.claims, lt.claims) {
			t.Fatalf("parsePlain reads differently from parseLegacy:\n plain:  %+v %#v\n legacy: %+v %#v\n token: %q", pt.header, pt.claims, lt.header, lt.claims, token)
		}
		if sig, err := b64.DecodeString(token[strings.LastIndexByte(token, '.')+1:]); err != nil || !reflect.DeepEqual(sig, pt.sig) || pt.signed != strings.LastIndexByte(token, '.') {
			t.Fatalf("parsePlain signature or signing input wrong for %q", token)
		}
	}
	ct, cerr := parse(token)
	if (cerr == nil) != (lerr == nil) || (cerr != nil && (cerr.Reason != lerr.Reason || cerr.Error() != lerr.Error())) {
		t.Fatalf("parse refuses differently: %v, legacy %v", cerr, lerr)
	}
	if ct != nil && !strictSame(ct.claims, lt.claims) {
		t.Fatalf("parse claims differ from legacy for %q", token)
	}
	return pt != nil
}

// sameSignatureCheck fails t unless, for every key of the environment
// (right, wrong and of other types), verifyPlain on a plain token agrees
// with go-jose (the legacy sigCheck) on token.
func (e *diffEnv) sameSignatureCheck(t testing.TB, token string) {
	t.Helper()
	pt := parsePlain(token)
	if pt == nil {
		return
	}
	lt, _ := parseLegacy(token)
	for _, key := range e.pubs {
		plain, legacy := newSigCheck(token, pt), newSigCheck(token, lt)
		if !plain.plain || legacy.plain {
			t.Fatal("newSigCheck: wrong path")
		}
		if got, want := plain.verify(key), legacy.verify(key); got != want {
			t.Fatalf("signature check with %T: plain path %v, go-jose %v (parse error %v), token %q", key, got, want, legacy.parseErr, token)
		}
	}
}
