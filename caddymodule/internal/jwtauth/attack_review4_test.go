package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
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
