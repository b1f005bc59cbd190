package jwtauth

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

// Attack review of the plain JWT path (parsePlain, decodeClaims,
// verifyPlain): every token below is judged by the plain path and by the
// legacy path (encoding/json and go-jose), which must agree exactly.

// attack4Claims fails t unless decodeClaims decodes data exactly (bit for
// bit) as encoding/json does, or leaves it to encoding/json.
func attack4Claims(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := decodeClaims(data)
	if !ok {
		return false
	}
	want, err := decodeObject(data)
	if err != nil || !strictSame(got, want) {
		t.Fatalf("decodeClaims %#v, encoding/json %#v (%v), for %q", got, want, err, data)
	}
	return true
}

// attack4Check judges token with both readers and both verifiers (see
// samePlainParse, sameSignatureCheck and compare), with claims compared
// by strictSame, and checks that KeySet.VerifySignature accepts what
// Verify accepts unless the alg is symmetric. It reports whether the
// token is plain and Verify's outcome.
func (e *diffEnv) attack4Check(t testing.TB, token string) (bool, error) {
	t.Helper()
	plain := samePlainParse(t, token)
	e.sameSignatureCheck(t, token)
	if ct, cerr := parse(token); cerr == nil {
		lt, _ := parseLegacy(token)
		if !strictSame(ct.claims, lt.claims) {
			t.Fatalf("claims differ bitwise: %#v vs %#v", ct.claims, lt.claims)
		}
	}
	err := e.compare(t, token)
	if err == nil {
		pt, _ := parse(token)
		_, serr := e.cur.KeySet(e.iss).VerifySignature(context.Background(), token)
		if sym := algorithms[pt.header.alg].symmetric; sym != (serr != nil) || (sym && !errors.Is(serr, ErrUnsupportedAlg)) {
			t.Errorf("Verify accepts %s, VerifySignature: %v", pt.header.alg, serr)
		}
	}
	return plain, err
}

// attack4Kid is the environment's kid for alg.
func attack4Kid(alg string) string {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return "rs"
	case strings.HasPrefix(alg, "ES"):
		return strings.ToLower(alg)
	case alg == "EdDSA" || alg == "Ed25519":
		return "ed"
	}
	return ""
}

func TestAttack4Headers(t *testing.T) {
	e := newDiffEnv(t)
	good := e.claimsJSON("")
	long := func(n int) string { // a header of exactly n bytes
		h := `{"alg":"RS256","kid":"rs","x5t":""}`
		return h[:len(h)-2] + strings.Repeat("x", n-len(h)) + `"}`
	}
	type hc struct {
		name, alg, header string
		plain             bool // must be read by parsePlain
		accept, refuse    bool // must be accepted, must be refused
	}
	cases := []hc{
		{"none", "none", `{"alg":"none"}`, false, false, true},
		{"NONE kid", "RS256", `{"alg":"NONE","kid":"rs"}`, false, false, true},
		{"nOnE", "RS256", `{"alg":"nOnE"}`, false, false, true},
		{"none trailing space", "RS256", `{"alg":"none ","kid":"rs"}`, true, false, true},
		{"none escaped", "RS256", `{"alg":"n\u006fne","kid":"rs"}`, false, false, true},
		{"kid before alg", "RS256", `{"kid":"rs","typ":"JWT","alg":"RS256"}`, true, true, false},
		{"empty kid", "RS256", `{"alg":"RS256","kid":""}`, true, true, false},
		{"kid spaces", "RS256", `{"alg":"RS256","kid":" rs"}`, true, false, true},
		{"kid tilde", "ES256", `{"alg":"ES256","kid":"~"}`, true, false, true},
		{"kid of other key", "ES256", `{"alg":"ES256","kid":"es384"}`, true, false, true},
		{"kid DEL", "RS256", "{\"alg\":\"RS256\",\"kid\":\"r\x7fs\"}", false, false, true},
		{"crit exp", "RS256", `{"alg":"RS256","kid":"rs","crit":["exp"],"exp":1}`, false, false, true},
		{"crit null", "RS256", `{"alg":"RS256","kid":"rs","crit":null}`, false, false, true},
		{"b64 true", "RS256", `{"alg":"RS256","kid":"rs","b64":true}`, false, false, false},
		{"b64 string", "RS256", `{"alg":"RS256","kid":"rs","b64":"false"}`, false, false, false},
		{"zip", "RS256", `{"alg":"RS256","kid":"rs","zip":"DEF"}`, false, false, false},
		{"enc", "RS256", `{"alg":"RS256","kid":"rs","enc":"A128GCM"}`, false, false, false},
		{"x5t junk", "RS256", `{"alg":"RS256","kid":"rs","x5t":"!!!","x5t#S256":"a"}`, true, true, false},
		{"x5t number", "RS256", `{"alg":"RS256","kid":"rs","x5t":1}`, false, false, false},
		{"X5T", "RS256", `{"alg":"RS256","kid":"rs","X5T":"a"}`, false, false, false},
		{"cty empty", "PS384", `{"alg":"PS384","kid":"rs","cty":""}`, true, true, false},
		{"typ twice", "RS256", `{"alg":"RS256","typ":"a","typ":"b"}`, false, false, true},
		{"alg twice same", "ES256", `{"alg":"ES256","alg":"ES256"}`, false, false, true},
		{"form feed", "RS256", "{\"alg\":\"RS256\",\f\"kid\":\"rs\"}", false, false, true},
		{"vertical tab", "RS256", "{\"alg\":\"RS256\",\v\"kid\":\"rs\"}", false, false, true},
		{"NBSP", "RS256", "{\"alg\":\"RS256\",\u00a0\"kid\":\"rs\"}", false, false, true},
		{"BOM", "RS256", "\ufeff{\"alg\":\"RS256\",\"kid\":\"rs\"}", false, false, true},
		{"trailing NUL", "RS256", "{\"alg\":\"RS256\"}\x00", false, false, true},
		{"all whitespace", "HS512", "\r\n\t {\r\n\t \"alg\"\r\n\t :\r\n\t \"HS512\"\r\n\t }\r\n\t ", true, true, false},
		{"trailing comma", "RS256", `{"alg":"RS256",}`, false, false, true},
		{"header 512", "RS256", long(512), true, true, false},
		{"header 513", "RS256", long(513), false, true, false},
		{"alg Ed25519 plain", "Ed25519", `{"alg":"Ed25519","kid":"ed"}`, true, true, false},
		{"alg HS256 kid rs", "HS256", `{"alg":"HS256","kid":"rs"}`, true, true, false},
		{"alg hs256", "HS256", `{"alg":"hs256"}`, true, false, true},
		{"alg with NUL escape", "RS256", `{"alg":"RS256\u0000","kid":"rs"}`, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plain, err := e.attack4Check(t, e.token(t, c.alg, c.header, good))
			if c.plain && !plain {
				t.Errorf("not plain")
			}
			if (c.accept && err != nil) || (c.refuse && err == nil) {
				t.Errorf("outcome %v, want accept %v refuse %v", err, c.accept, c.refuse)
			}
		})
	}
}

func TestAttack4Claims(t *testing.T) {
	e := newDiffEnv(t)
	deep := func(n int, open, closeS, leaf string) string {
		return `,"d":` + strings.Repeat(open, n) + leaf + strings.Repeat(closeS, n)
	}
	var many strings.Builder
	for i := range 400 {
		fmt.Fprintf(&many, `,"m%d":%d`, i, i)
	}
	extras := []string{
		`,"n":-0`, `,"n":-0.0`, `,"n":-0e5`, `,"n":[-0,0,-0.0e-0]`, `,"n":{"z":-0}`, `,"n":-1e-400`,
		`,"n":9007199254740993`, `,"n":1.7976931348623157e308`, `,"n":1.7976931348623159e308`,
		`,"n":-1e400`, `,"n":1e400`, `,"n":[1e400]`, `,"n":4.9e-324`, `,"n":2.4703282292062327e-324`,
		`,"n":2.4703282292062328e-324`, `,"n":0.` + strings.Repeat("0", 400) + `1e400`,
		`,"n":1` + strings.Repeat("0", 500), `,"n":1E+2`, `,"n":1e-0`, `,"n":00`, `,"n":-`, `,"n":--1`, `,"n":1.e5`,
		`,"o":{"a":1,"a":2}`, `,"o":{"a":{"b":1,"b":1}}`, `,"o":[[{"x":1,"x":1}]]`,
		`,"o":{"b":1,"\u0062":2}`, `,"o":{"a/b":1,"a\/b":2}`, `,"o":{"\/":1}`,
		`,"iss":"https://evil.example"`, `,"\u0069ss":"https://evil.example"`, `,"i\u0073s":1`,
		`,"a\/ud":"x"`, `,"":1`, `,"__proto__":{}`, `,"s":"\u0000"`, `,"s":"\ud800"`, `,"s":"\uDC00\uD800"`,
		`,"s":"\u00e9","t":"é"`, "\n,\"s\":\"\xef\xbb\xbf\"", `,"s":"` + "\xe2\x80\xa8" + `"`,
		"\t,\"s\":\"\xed\xbf\xbf\"", ",\"s\":\"\xf4\x90\x80\x80\"", ",\"s\":\"\xf0\x9f\x90\xb4\"",
		",\"\xff\":1", `,"s\u0000":1`, `,"b":tru`, `,"b":nulll`, `,"b":falsey`, `,"b":[true false]`,
		`,"b":[,1]`, `,"b":{"a"}`, `,"b":{,}`, `,"b":{"a":1,}`, `,"b":"\`, `,"b":"\q"`, `,"b":"\U0041"`,
		deep(30, "[", "]", "1"), deep(31, "[", "]", "1"), deep(32, "[", "]", "1"),
		deep(30, `{"a":`, "}", "1"), deep(31, `{"a":`, "}", "1"), deep(31, `{"a":`, "}", "{}"),
		deep(31, "[", "]", "[]"), deep(600, "[", "]", ""), many.String(),
	}
	decoded := 0
	for i, x := range extras {
		claims := e.claimsJSON(x)
		for j, text := range []string{claims, x + claims, claims + x, "\ufeff" + claims, claims + "\f", claims + " \x00"} {
			t.Run(fmt.Sprintf("%d/%d", i, j), func(t *testing.T) {
				if attack4Claims(t, []byte(text)) {
					decoded++
				}
				e.attack4Check(t, e.token(t, "ES256", `{"alg":"ES256","kid":"es256"}`, text))
			})
		}
	}
	if decoded < 20 {
		t.Errorf("decodeClaims decoded only %d texts: the cases do not reach it", decoded)
	}
}

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

// FuzzAttack4Claims compares decodeClaims with encoding/json bit for bit
// (strictSame: -0 is not 0, nil is not empty).
func FuzzAttack4Claims(f *testing.F) {
	for _, s := range []string{`{"a":-0}`, `{"a":[-0.0,{"b":-0e1}]}`, `{"a":1e-400}`, `{"a":"\/\b"}`, `{"":{}}`, `{"a":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { attack4Claims(t, data) })
}

// FuzzAttack4Token signs an arbitrary header and claims text under the
// alg the header names, then alters the signature as op says (none, a
// flipped bit, a zero byte before or after, one byte less, high S for
// ECDSA), and checks that both paths judge the token alike.
func FuzzAttack4Token(f *testing.F) {
	e := newDiffEnv(f)
	for _, alg := range allAlgorithms {
		for op := range uint8(6) {
			f.Add(`{"alg":"`+alg+`","kid":"`+attack4Kid(alg)+`"}`, e.claimsJSON(`,"n":-0`), op)
		}
	}
	f.Fuzz(func(t *testing.T, header, claims string, op uint8) {
		alg := ""
		if h, ok := decodeClaims([]byte(header)); ok {
			alg, _ = h["alg"].(string)
		}
		tok := e.token(t, alg, header, claims)
		dot := strings.LastIndexByte(tok, '.')
		sig, err := b64.DecodeString(tok[dot+1:])
		if err != nil || len(sig) < 2 {
			return
		}
		switch op % 6 {
		case 1:
			sig[int(op)%len(sig)] ^= 1 << (op % 8)
		case 2:
			sig = append([]byte{0}, sig...)
		case 3:
			sig = append(sig, 0)
		case 4:
			sig = sig[1:]
		case 5:
			if k := e.ec[alg]; k != nil && len(sig)%2 == 0 {
				n := len(sig) / 2
				s := new(big.Int).SetBytes(sig[n:])
				if s.Sign() > 0 && s.Cmp(k.Curve.Params().N) < 0 {
					new(big.Int).Sub(k.Curve.Params().N, s).FillBytes(sig[n:])
				}
			}
		}
		e.attack4Check(t, tok[:dot+1]+enc.EncodeToString(sig))
	})
}
