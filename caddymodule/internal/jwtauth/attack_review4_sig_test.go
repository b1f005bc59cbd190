package jwtauth

// Attack review of the plain JWT path, signatures: malleability,
// algorithm confusion, every key against verifyPlain and go-jose,
// base64 respellings and an issuer restricted to one algorithm.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// attack4Sig returns token with its signature replaced by sig.
func attack4Sig(token string, sig []byte) string {
	return token[:strings.LastIndexByte(token, '.')+1] + enc.EncodeToString(sig)
}

func TestAttack4SignatureMalleability(t *testing.T) {
	e := newDiffEnv(t)
	good := e.claimsJSON("")
	check := func(t *testing.T, name, token string, want bool) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			plain, err := e.attack4Check(t, token)
			if !plain || (err == nil) != want {
				t.Errorf("plain %v, outcome %v, want accepted %v", plain, err, want)
			}
		})
	}
	// ECDSA: high S (N-s) verifies in crypto/ecdsa and in go-jose alike;
	// r or s zero or N, short or long encodings never verify.
	for _, alg := range []string{"ES256", "ES384", "ES512"} {
		tok := e.token(t, alg, `{"alg":"`+alg+`","kid":"`+attack4Kid(alg)+`"}`, good)
		sig, _ := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
		_, size := ecParams(alg)
		n := e.ec[alg].Curve.Params().N
		s := new(big.Int).SetBytes(sig[size:])
		high := append([]byte{}, sig...)
		new(big.Int).Sub(n, s).FillBytes(high[size:])
		check(t, alg+" high S", attack4Sig(tok, high), true)
		zeroS := append(append([]byte{}, sig[:size]...), make([]byte, size)...)
		check(t, alg+" s zero", attack4Sig(tok, zeroS), false)
		nS := append([]byte{}, sig...)
		n.FillBytes(nS[size:])
		check(t, alg+" s N", attack4Sig(tok, nS), false)
		sPlusN := append([]byte{}, sig...)
		if v := new(big.Int).Add(s, n); v.BitLen() <= 8*size {
			v.FillBytes(sPlusN[size:])
			check(t, alg+" s+N", attack4Sig(tok, sPlusN), false)
		}
		check(t, alg+" short", attack4Sig(tok, sig[1:]), false)
		check(t, alg+" zero prefix", attack4Sig(tok, append([]byte{0}, sig...)), false)
	}
	// RSA: a signature whose first byte is zero verifies at full length
	// only, in both paths; s+N and s of another length never.
	for _, alg := range []string{"RS256", "PS512"} {
		var tok string
		var sig []byte
		for i := 0; ; i++ {
			tok = e.token(t, alg, `{"alg":"`+alg+`","kid":"rs"}`, e.claimsJSON(fmt.Sprintf(`,"i":%d`, i)))
			sig, _ = b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
			if sig[0] == 0 {
				break
			}
		}
		check(t, alg+" leading zero", tok, true)
		check(t, alg+" leading zero stripped", attack4Sig(tok, sig[1:]), false)
		check(t, alg+" extra zero", attack4Sig(tok, append([]byte{0}, sig...)), false)
		plusN := new(big.Int).Add(new(big.Int).SetBytes(sig), e.rsa.N).FillBytes(make([]byte, len(sig)))
		check(t, alg+" s+N", attack4Sig(tok, plusN), false)
		check(t, alg+" s N", attack4Sig(tok, e.rsa.N.Bytes()), false)
		check(t, alg+" s one", attack4Sig(tok, big.NewInt(1).FillBytes(make([]byte, len(sig)))), false)
	}
	// Ed25519: S+L (non-canonical) never verifies, under either name.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	for _, alg := range []string{"EdDSA", "Ed25519"} {
		tok := e.token(t, alg, `{"alg":"`+alg+`","kid":"ed"}`, good)
		sig, _ := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
		le := func(b []byte) []byte { // reverses b (little endian <-> big endian)
			r := make([]byte, len(b))
			for i := range b {
				r[len(b)-1-i] = b[i]
			}
			return r
		}
		bigS := new(big.Int).Add(new(big.Int).SetBytes(le(sig[32:])), l)
		mal := append(append([]byte{}, sig[:32]...), le(bigS.FillBytes(make([]byte, 32)))...)
		check(t, alg+" S+L", attack4Sig(tok, mal), false)
		check(t, alg+" short", attack4Sig(tok, sig[:63]), false)
	}
	// HMAC: a truncated, an extended and another size's MAC never verify.
	tok := e.token(t, "HS384", `{"alg":"HS384"}`, good)
	mac, _ := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
	check(t, "HS384 truncated", attack4Sig(tok, mac[:32]), false)
	check(t, "HS384 extended", attack4Sig(tok, append(append([]byte{}, mac...), 0)), false)
	input := tok[:strings.LastIndexByte(tok, '.')]
	check(t, "HS384 header, HS512 MAC", input+"."+enc.EncodeToString(e.sign(t, "HS512", []byte(input))), false)
}

func TestAttack4AlgorithmConfusion(t *testing.T) {
	e := newDiffEnv(t)
	good := e.claimsJSON("")
	der, err := x509.MarshalPKIXPublicKey(e.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwk, err := jose.JSONWebKey{Key: e.rsa.Public(), KeyID: "rs"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKIXPublicKey(e.ec["ES256"].Public())
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for name, secret := range map[string][]byte{"DER": der, "PEM": pemKey, "JWK": jwk, "N": e.rsa.N.Bytes(), "EC DER": ecDER} {
			for _, h := range []string{`{"alg":"` + alg + `"}`, `{"alg":"` + alg + `","kid":"rs"}`} {
				input := enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString([]byte(good))
				tok := input + "." + enc.EncodeToString(signWith(t, alg, secret, []byte(input)))
				if plain, err := e.attack4Check(t, tok); !plain || !errors.Is(err, ErrSignature) {
					t.Errorf("%s keyed with the RSA key's %s (%s): plain %v, %v", alg, name, h, plain, err)
				}
			}
		}
	}
	// An asymmetric header over a signature of another family or key.
	for _, c := range []struct{ header, signAlg string }{
		{`{"alg":"RS256","kid":"rs"}`, "HS256"}, {`{"alg":"RS256","kid":"rs"}`, "PS256"},
		{`{"alg":"PS256","kid":"rs"}`, "RS256"}, {`{"alg":"ES256","kid":"rs"}`, "ES256"},
		{`{"alg":"ES384","kid":"es256"}`, "ES256"}, {`{"alg":"EdDSA","kid":"rs"}`, "EdDSA"},
		{`{"alg":"ES256"}`, "ES384"}, {`{"alg":"RS256","kid":"es256"}`, "ES256"},
	} {
		input := enc.EncodeToString([]byte(c.header)) + "." + enc.EncodeToString([]byte(good))
		tok := input + "." + enc.EncodeToString(e.sign(t, c.signAlg, []byte(input)))
		if _, err := e.attack4Check(t, tok); err == nil {
			t.Errorf("%s signed as %s accepted", c.header, c.signAlg)
		}
	}
}

// TestAttack4KeyMatrix checks verifyPlain against go-jose for every
// algorithm and every key, odd ones included: keys of another type or
// curve, nil keys, short secrets. go-jose also takes JWK wrappers and an
// rsa.PublicKey value, which the key set never holds; verifyPlain must
// refuse those rather than accept more.
func TestAttack4KeyMatrix(t *testing.T) {
	e := newDiffEnv(t)
	good := e.claimsJSON("")
	keys := append([]any{(*rsa.PublicKey)(nil), (*ecdsa.PublicKey)(nil), e.secret[:31], e.secret[:32], e.secret[:47], e.secret[:48], e.secret[:63], []byte{}, "secret", nil}, e.pubs...)
	for _, alg := range allAlgorithms {
		h := `{"alg":"` + alg + `"}`
		tok := e.token(t, alg, h, good)
		for _, tk := range []string{tok, tamperSig(tok)} {
			pt, lt := parsePlain(tk), mustLegacy(t, tk)
			if pt == nil {
				t.Fatalf("%s: not plain", alg)
			}
			for i, key := range keys {
				if got, want := newSigCheck(tk, pt).verify(key), newSigCheck(tk, lt).verify(key); got != want {
					t.Errorf("%s key %d (%T): plain %v, go-jose %v", alg, i, key, got, want)
				}
			}
			if strings.HasPrefix(alg, "HS") { // a secret shorter than the hash, with a MAC under it
				short := e.secret[:shaFor(alg[2:]).Size()-1]
				input := tk[:strings.LastIndexByte(tk, '.')]
				st := input + "." + enc.EncodeToString(signWith(t, alg, short, []byte(input)))
				if pst := parsePlain(st); newSigCheck(st, pst).verify(short) || newSigCheck(st, mustLegacy(t, st)).verify(short) {
					t.Errorf("%s: a %d-byte secret verifies", alg, len(short))
				}
			}
			for _, key := range []any{jose.JSONWebKey{Key: e.rsa.Public()}, &jose.JSONWebKey{Key: e.ec["ES256"].Public()}, *e.rsa.Public().(*rsa.PublicKey), ed25519.PublicKey(e.ed.Public().(ed25519.PublicKey)[:31])} {
				if newSigCheck(tk, pt).verify(key) {
					t.Errorf("%s: plain path accepts key %T", alg, key)
				}
			}
		}
	}
}

func mustLegacy(t testing.TB, token string) *parsedToken {
	t.Helper()
	lt, err := parseLegacy(token)
	if err != nil {
		t.Fatalf("parseLegacy: %v", err)
	}
	return lt
}

func TestAttack4Base64(t *testing.T) {
	e := newDiffEnv(t)
	base := e.token(t, "HS256", `{"alg":"HS256","typ":"JWT"}`, e.claimsJSON(`,"x":"~~~???>>>"`))
	parts := strings.Split(base, ".")
	if !strings.ContainsAny(parts[1], "-_") {
		t.Fatalf("payload has no '-' or '_' to respell: %s", parts[1])
	}
	variants := map[string]func(string) string{
		"pad =":         func(s string) string { return s + "=" },
		"pad ==":        func(s string) string { return s + "==" },
		"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace,
		"non-canonical": nonCanonical,
		"space":         func(s string) string { return s[:3] + " " + s[3:] },
		"tab":           func(s string) string { return s[:3] + "\t" + s[3:] },
		"CR":            func(s string) string { return s[:3] + "\r" + s[3:] },
		"LF":            func(s string) string { return s[:4] + "\n" + s[4:] },
		"CRLF end":      func(s string) string { return s + "\r\n" },
		"percent":       func(s string) string { return s[:2] + "%41" + s[2:] },
		"unicode":       func(s string) string { return s[:2] + "Ａ" + s[2:] },
		"NUL":           func(s string) string { return s + "\x00" },
		"one more":      func(s string) string { return s + "A" },
		"one less":      func(s string) string { return s[:len(s)-1] },
	}
	if _, err := e.attack4Check(t, base); err != nil {
		t.Fatalf("base token refused: %v", err)
	}
	for name, f := range variants {
		for i := range parts {
			p := append([]string{}, parts...)
			p[i] = f(p[i])
			tok := strings.Join(p, ".")
			if tok == base {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				plain, err := e.attack4Check(t, tok)
				// "one more" and "one less" can be other valid segments.
				if plain && !strings.HasPrefix(name, "one ") {
					t.Errorf("respelled token read as plain: %q", tok)
				}
				// Every respelling is refused, CR and LF included: base64
				// decoders skip them and go-jose verifies its own
				// re-encoding, so parseLegacy refuses line breaks itself.
				if err == nil {
					t.Errorf("respelled token accepted: %q", tok)
				}
			})
		}
	}
}

// TestAttack4RestrictedIssuer checks an issuer that allows RS256 only,
// with an RSA key labelled RS256 and an EC key: every other algorithm is
// refused alike by both paths, through Verify and VerifySignature.
func TestAttack4RestrictedIssuer(t *testing.T) {
	rs := testRSAKey(t, 2)
	ec := newECKey(t, "ec")
	idp := newFakeIdP(t, jose.JSONWebKey{Key: rs.Public(), KeyID: "rs", Algorithm: "RS256", Use: "sig"}, ec.jwk(true, false))
	secret := []byte(strings.Repeat("k", 64))
	var vs [2]*Verifier
	for i := range vs {
		clock := newFakeClock()
		vs[i] = newTestVerifier(t, idp, clock, func(o *Options) {
			o.CacheSize = -1
			o.Issuers[0].Algorithms = []string{"RS256"}
		})
	}
	vs[1].parse = parseLegacy
	now := newFakeClock().Now()
	claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"u","exp":%d}`, idp.issuer(), testAudience, now.Unix()+3600)
	ctx := context.Background()
	for _, c := range []struct {
		alg, header string
		key         any
		accept      bool
	}{
		{"RS256", `{"alg":"RS256","kid":"rs"}`, rs, true},
		{"PS256", `{"alg":"PS256","kid":"rs"}`, rs, false},
		{"RS384", `{"alg":"RS384","kid":"rs"}`, rs, false},
		{"ES256", `{"alg":"ES256","kid":"ec"}`, ec.key, false},
		{"HS256", `{"alg":"HS256","kid":"rs"}`, secret, false},
		{"RS256", `{"alg":"RS256","kid":"ec"}`, rs, false},
	} {
		input := enc.EncodeToString([]byte(c.header)) + "." + enc.EncodeToString([]byte(claims))
		tok := input + "." + enc.EncodeToString(signWith(t, c.alg, c.key, []byte(input)))
		if parsePlain(tok) == nil {
			t.Fatalf("%s: not plain", c.header)
		}
		_, err1 := vs[0].Verify(ctx, tok)
		_, err2 := vs[1].Verify(ctx, tok)
		_, serr1 := vs[0].KeySet(idp.issuer()).VerifySignature(ctx, tok)
		_, serr2 := vs[1].KeySet(idp.issuer()).VerifySignature(ctx, tok)
		if !sameOutcome(err1, err2) || !sameOutcome(serr1, serr2) || (err1 == nil) != c.accept || (serr1 == nil) != c.accept {
			t.Errorf("%s: Verify %v / legacy %v; VerifySignature %v / legacy %v; want accepted %v", c.header, err1, err2, serr1, serr2, c.accept)
		}
	}
}
