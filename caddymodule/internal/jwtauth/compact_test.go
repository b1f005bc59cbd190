package jwtauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// claimsJSON returns a valid claims text for e with extra members
// (already JSON, comma-led) appended.
func (e *diffEnv) claimsJSON(extra string) string {
	return fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"user-1","exp":%d,"iat":%d,"scope":"a b","groups":["g1","g2"],"email":"u@example.com"%s}`,
		e.iss, testAudience, e.now.Unix()+3600, e.now.Unix()-3600, extra)
}

// diffCase is one token of the differential corpus.
type diffCase struct {
	name  string
	token string
	// plain and accept are what the case is there for: a token that must
	// take the plain path and be accepted, so the corpus cannot pass by
	// sending everything down the legacy path.
	plain, accept bool
}

// diffCorpus builds hand-made tokens around the edges of the plain path.
func diffCorpus(t testing.TB, e *diffEnv) []diffCase {
	t.Helper()
	good := e.claimsJSON("")
	var cs []diffCase
	add := func(name, token string) { cs = append(cs, diffCase{name: name, token: token}) }
	ok := func(name, token string) {
		cs = append(cs, diffCase{name: name, token: token, plain: true, accept: true})
	}
	// Every algorithm, with and without kid, typ and the stored members.
	for _, alg := range allAlgorithms {
		kid := map[string]string{"ES256": "es256", "ES384": "es384", "ES512": "es512", "EdDSA": "ed", "Ed25519": "ed"}[alg]
		if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
			kid = "rs"
		}
		h := `{"alg":"` + alg + `"`
		if kid != "" {
			h += `,"kid":"` + kid + `"`
		}
		ok(alg, e.token(t, alg, h+`}`, good))
		ok(alg+"/typ", e.token(t, alg, h+`,"typ":"at+jwt","cty":"JWT","x5t":"abc","x5t#S256":"def"}`, good))
		ok(alg+"/spaces", e.token(t, alg, " \t\r\n{ "+strings.ReplaceAll(h[1:], ",", " ,\n\t")+" } \n", good))
		ok(alg+"/no kid", e.token(t, alg, `{"alg":"`+alg+`"}`, good))
		add(alg+"/tampered", tamperSig(e.token(t, alg, h+`}`, good)))
		add(alg+"/lowercase", e.token(t, alg, strings.Replace(h, alg, strings.ToLower(alg), 1)+`}`, good))
		add(alg+"/kid number", e.token(t, alg, `{"alg":"`+alg+`","kid":1}`, good))
		add(alg+"/kid null", e.token(t, alg, `{"alg":"`+alg+`","kid":null}`, good))
		add(alg+"/unknown kid", e.token(t, alg, `{"alg":"`+alg+`","kid":"nope"}`, good))
		add(alg+"/b64 false", e.token(t, alg, h+`,"b64":false}`, good))
		add(alg+"/crit", e.token(t, alg, h+`,"crit":["b64"],"b64":false}`, good))
		add(alg+"/empty crit", e.token(t, alg, h+`,"crit":[]}`, good))
	}
	hdr := `{"alg":"RS256","kid":"rs"}`
	for _, c := range []struct{ name, header string }{
		{"duplicate alg", `{"alg":"RS256","alg":"RS256","kid":"rs"}`},
		{"duplicate alg HS then RS", `{"alg":"HS256","alg":"RS256","kid":"rs"}`},
		{"duplicate kid", `{"alg":"RS256","kid":"rs","kid":"rs"}`},
		{"duplicate typ", `{"alg":"RS256","typ":"JWT","typ":"at+jwt"}`},
		{"Alg and alg", `{"Alg":"HS256","alg":"RS256","kid":"rs"}`},
		{"ALG only", `{"ALG":"RS256","kid":"rs"}`},
		{"KID", `{"alg":"RS256","KID":"rs"}`},
		{"escaped name", `{"\u0061lg":"RS256","kid":"rs"}`},
		{"escaped duplicate", `{"alg":"RS256","\u0061lg":"none","kid":"rs"}`},
		{"escaped value", `{"alg":"RS\u0032256","kid":"rs"}`},
		{"escaped slash in kid", `{"alg":"RS256","kid":"r\/s"}`},
		{"unicode kid", `{"alg":"RS256","kid":"ř"}`},
		{"alg none", `{"alg":"none"}`},
		{"alg None", `{"alg":"None","kid":"rs"}`},
		{"alg empty", `{"alg":"","kid":"rs"}`},
		{"alg missing", `{"kid":"rs"}`},
		{"alg number", `{"alg":256,"kid":"rs"}`},
		{"alg array", `{"alg":["RS256"],"kid":"rs"}`},
		{"jwk embedded", `{"alg":"RS256","kid":"rs","jwk":{"kty":"oct","k":"AAAA"}}`},
		{"jwk bad", `{"alg":"RS256","kid":"rs","jwk":"x"}`},
		{"jku", `{"alg":"RS256","kid":"rs","jku":"https://evil.example/keys"}`},
		{"x5u", `{"alg":"RS256","kid":"rs","x5u":"https://evil.example/cert"}`},
		{"x5c bad", `{"alg":"RS256","kid":"rs","x5c":["AAAA"]}`},
		{"nonce", `{"alg":"RS256","kid":"rs","nonce":"n"}`},
		{"nested object", `{"alg":"RS256","kid":"rs","x":{"y":{"z":1}}}`},
		{"typ object", `{"alg":"RS256","kid":"rs","typ":{"a":1}}`},
		{"huge kid", `{"alg":"RS256","kid":"` + strings.Repeat("k", 700) + `"}`},
		{"huge member", `{"alg":"RS256","kid":"rs","cty":"` + strings.Repeat("c", 600) + `"}`},
		{"array", `["alg","RS256"]`},
		{"null", `null`},
		{"string", `"RS256"`},
		{"empty object", `{}`},
		{"trailing data", `{"alg":"RS256","kid":"rs"}x`},
		{"two objects", `{"alg":"RS256","kid":"rs"} {}`},
		{"trailing comma", `{"alg":"RS256","kid":"rs",}`},
		{"missing colon", `{"alg" "RS256"}`},
		{"unterminated", `{"alg":"RS256"`},
		{"control char", "{\"alg\":\"RS256\",\"kid\":\"r\x01s\"}"},
		{"NUL after", "{\"alg\":\"RS256\",\"kid\":\"rs\"}\x00"},
		{"invalid utf8", "{\"alg\":\"RS256\",\"kid\":\"\xff\"}"},
		{"form feed space", "{\f\"alg\":\"RS256\",\"kid\":\"rs\"}"},
	} {
		add("header "+c.name, e.token(t, "RS256", c.header, good))
	}
	// Algorithm confusion: HS256 keyed with the RSA public key, an RS
	// token signed with an EC key, ES256 under the RSA kid.
	pubDER := []byte(fmt.Sprint(e.rsa.Public()))
	input := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"rs"}`)) + "." + enc.EncodeToString([]byte(good))
	add("HS256 with RSA public key", input+"."+enc.EncodeToString(signWith(t, "HS256", pubDER, []byte(input))))
	input = enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(good))
	add("RS256 signed by EC key", input+"."+enc.EncodeToString(signWith(t, "ES256", e.ec["ES256"], []byte(input))))
	add("ES256 under RSA kid", e.token(t, "ES256", `{"alg":"ES256","kid":"rs"}`, good))
	add("PS256 signature as RS256", input+"."+enc.EncodeToString(signWith(t, "PS256", e.rsa, []byte(input))))
	// ECDSA signatures of another length: a zero byte before s keeps
	// its value, yet go-jose refuses any length but twice the size.
	esTok := e.token(t, "ES256", `{"alg":"ES256","kid":"es256"}`, good)
	esDot := strings.LastIndexByte(esTok, '.')
	esSig, _ := b64.DecodeString(esTok[esDot+1:])
	add("ES256 zero before s", esTok[:esDot+1]+enc.EncodeToString(append(append(append([]byte{}, esSig[:32]...), 0), esSig[32:]...)))
	add("ES256 zero before r", esTok[:esDot+1]+enc.EncodeToString(append([]byte{0}, esSig...)))
	add("ES256 sig twice", esTok[:esDot+1]+enc.EncodeToString(append(append([]byte{}, esSig...), esSig...)))
	// PSS salts other than the hash length: go-jose verifies with the
	// salt length detected (rsa.PSSSaltLengthAuto).
	input = enc.EncodeToString([]byte(`{"alg":"PS256","kid":"rs"}`)) + "." + enc.EncodeToString([]byte(good))
	for _, salt := range []int{0, 7, rsa.PSSSaltLengthAuto} {
		digest := hashOf(crypto.SHA256, []byte(input))
		sig, err := rsa.SignPSS(rand.Reader, e.rsa, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		ok(fmt.Sprintf("PS256 salt %d", salt), input+"."+enc.EncodeToString(sig))
	}
	// Token-level spelling.
	base := e.token(t, "RS256", hdr, good)
	parts := strings.Split(base, ".")
	for name, tok := range map[string]string{
		"padding header":      parts[0] + "=." + parts[1] + "." + parts[2],
		"padding signature":   parts[0] + "." + parts[1] + "." + parts[2] + "==",
		"non-canonical sig":   parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]),
		"non-canonical head":  nonCanonical(parts[0]) + "." + parts[1] + "." + parts[2],
		"non-canonical body":  parts[0] + "." + nonCanonical(parts[1]) + "." + parts[2],
		"LF in payload":       parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		"CRLF in header":      parts[0][:4] + "\r\n" + parts[0][4:] + "." + parts[1] + "." + parts[2],
		"CR in signature":     parts[0] + "." + parts[1] + "." + parts[2][:5] + "\r" + parts[2][5:],
		"space inside":        parts[0] + " ." + parts[1] + "." + parts[2],
		"leading space":       " " + base,
		"trailing newline":    base + "\n",
		"std alphabet":        strings.NewReplacer("-", "+", "_", "/").Replace(base),
		"two parts":           parts[0] + "." + parts[1],
		"four parts":          base + "." + parts[2],
		"empty payload":       parts[0] + ".." + parts[2],
		"empty signature":     parts[0] + "." + parts[1] + ".",
		"empty header":        "." + parts[1] + "." + parts[2],
		"JSON serialization":  `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"truncated signature": parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4],
	} {
		add("token "+name, tok)
	}
	ok("RS256 base", base)
	// b64:false signed over the raw payload, as RFC 7797 would.
	raw := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rs","b64":false}`)) + "." + good
	add("b64 false raw payload", raw+"."+enc.EncodeToString(signWith(t, "RS256", e.rsa, []byte(raw))))
	raw = enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rs","b64":false,"crit":["b64"]}`)) + "." + good
	add("b64 false crit raw payload", raw+"."+enc.EncodeToString(signWith(t, "RS256", e.rsa, []byte(raw))))
	for _, c := range claimsCases(e) {
		tok := e.token(t, "RS256", hdr, c.claims)
		if c.accept {
			ok("claims "+c.name, tok)
		} else {
			add("claims "+c.name, tok)
		}
	}
	return cs
}

// tamperSig flips a bit in the middle of token's signature.
func tamperSig(token string) string {
	dot := strings.LastIndexByte(token, '.')
	sig, _ := b64.DecodeString(token[dot+1:])
	if len(sig) == 0 {
		return token
	}
	sig[len(sig)/2] ^= 1
	return token[:dot+1] + enc.EncodeToString(sig)
}

// nonCanonical changes the unused trailing bits of a base64url segment
// whose length leaves some, so it decodes (leniently) to the same bytes.
func nonCanonical(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		return seg + "A" // no spare bits: an invalid length instead
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

func TestPlainPathMatchesLegacy(t *testing.T) {
	e := newDiffEnv(t)
	plain, accepted := 0, 0
	for _, c := range diffCorpus(t, e) {
		t.Run(c.name, func(t *testing.T) {
			isPlain := samePlainParse(t, c.token)
			e.sameSignatureCheck(t, c.token)
			err := e.compare(t, c.token)
			if c.plain && !isPlain {
				t.Errorf("not read as plain: %q", c.token)
			}
			if c.accept && err != nil {
				t.Errorf("refused: %v", err)
			}
			if isPlain {
				plain++
			}
			if err == nil {
				accepted++
			}
		})
	}
	t.Logf("%d plain tokens, %d accepted", plain, accepted)
}

// FuzzParsePlain feeds arbitrary tokens to both readers: parsePlain must
// read a token exactly as parseLegacy does or leave it to it, parse must
// refuse exactly what parseLegacy refuses, and a plain token's signature
// check must agree with go-jose's for every key. Each plain token is also
// re-signed with the environment's key for its alg, so the signature
// comparison and the two verifiers also see tokens that verify.
func FuzzParsePlain(f *testing.F) {
	e := newDiffEnv(f)
	for _, c := range diffCorpus(f, e) {
		f.Add(c.token)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if !samePlainParse(t, token) {
			return
		}
		e.sameSignatureCheck(t, token)
		pt := parsePlain(token)
		input := token[:pt.signed]
		resigned := input + "." + enc.EncodeToString(e.sign(t, pt.header.alg, []byte(input)))
		samePlainParse(t, resigned)
		e.sameSignatureCheck(t, resigned)
		e.compare(t, resigned)
	})
}

// FuzzSignedToken builds a token from arbitrary header and claims texts,
// signed with the environment's key for the alg the header names, and
// checks that both verifiers judge it alike (same principal and claims,
// or the same error), and both readers read it alike.
func FuzzSignedToken(f *testing.F) {
	e := newDiffEnv(f)
	for _, c := range diffCorpus(f, e) {
		parts := strings.Split(c.token, ".")
		if len(parts) != 3 {
			continue
		}
		h, err1 := b64.DecodeString(parts[0])
		p, err2 := b64.DecodeString(parts[1])
		if err1 == nil && err2 == nil {
			f.Add(string(h), string(p))
		}
	}
	f.Fuzz(func(t *testing.T, header, claims string) {
		var h struct {
			Alg string `json:"alg"`
		}
		_ = json.Unmarshal([]byte(header), &h)
		token := e.token(t, h.Alg, header, claims)
		samePlainParse(t, token)
		e.sameSignatureCheck(t, token)
		e.compare(t, token)
	})
}
