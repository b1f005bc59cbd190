package jwtauth

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// claimsCase is a claims text for the differential corpus; accept marks
// one that must be accepted (by both paths).
type claimsCase struct {
	name, claims string
	accept       bool
}

// claimsCases are claims texts around the edges of decodeClaims, each
// with a valid issuer, audience, subject and times unless the case is
// about those.
func claimsCases(e *diffEnv) []claimsCase {
	exp, iat := e.now.Unix()+3600, e.now.Unix()-3600
	head := fmt.Sprintf(`"iss":%q,"aud":%q`, e.iss, testAudience)
	valid := func(extra string) string {
		return `{` + head + fmt.Sprintf(`,"sub":"u","exp":%d,"iat":%d`, exp, iat) + extra + `}`
	}
	cs := []claimsCase{
		{"plain", valid(""), true},
		{"whitespace", " \n\t{ " + strings.ReplaceAll(valid("")[1:], ",", " ,\r\n ") + " \n", true},
		{"escapes", valid(`,"name":"a\"b\\c\/d\b\f\n\r\t","p":"https:\/\/x"`), true},
		{"unicode raw", valid(`,"name":"Žluťoučký 🐴","x":"\u007f` + "\x7f" + `"`), false},
		{"unicode raw only", valid(`,"name":"Žluťoučký 🐴 ` + "\u2028\x7f" + `"`), true},
		{"unicode escape", valid(`,"name":"\u017d"`), true},
		{"surrogate pair", valid(`,"name":"\ud83d\udc34"`), true},
		{"lone surrogate", valid(`,"name":"\ud800"`), true},
		{"invalid utf8", valid(`,"name":"` + "\xff\xfe" + `"`), true},
		{"utf8 surrogate bytes", valid(`,"name":"` + "\xed\xa0\x80" + `"`), true},
		{"overlong utf8", valid(`,"name":"` + "\xc0\xaf" + `"`), true},
		{"escaped invalid utf8", valid(`,"name":"\n` + "\xc3" + `\n"`), true},
		{"control char raw", valid(`,"name":"a` + "\x01" + `b"`), false},
		{"tab raw", valid(`,"name":"a` + "\t" + `b"`), false},
		{"bad escape", valid(`,"name":"\x41"`), false},
		{"short unicode escape", valid(`,"name":"\u12"`), false},
		{"duplicate sub", valid(`,"sub":"admin"`), false},
		{"duplicate escaped", valid(`,"s\u0075b":"admin"`), false},
		{"duplicate nested", valid(`,"realm_access":{"roles":["a"],"roles":["b"]}`), true},
		{"duplicate deep", valid(`,"x":[{"a":1,"a":{"b":2}}]`), true},
		{"case variants", valid(`,"Sub":"admin","EXP":1,"Aud":"other","ISS":"x"`), true},
		{"nested roles", valid(`,"realm_access":{"roles":["admin","dev"]},"groups":"g"`), true},
		{"empty containers", valid(`,"a":[],"o":{},"n":null,"t":true,"f":false`), true},
		{"deep nesting", valid(`,"d":` + strings.Repeat("[", 40) + strings.Repeat("]", 40)), true},
		{"deep objects", valid(`,"d":` + strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)), true},
		{"numbers", valid(`,"n":[0,-0,1.5,-2.25e3,1E-2,6.02e+23,123456789012345678901234567890,4.9e-324,1e-400]`), true},
		{"exp float", `{` + head + fmt.Sprintf(`,"sub":"u","exp":%d.75,"iat":%de0`, exp, iat) + `}`, true},
		{"exp exponent", `{` + head + fmt.Sprintf(`,"sub":"u","exp":%.6e,"iat":%d`, float64(exp), iat) + `}`, true},
		{"exp string", `{` + head + fmt.Sprintf(`,"sub":"u","exp":"%d"`, exp) + `}`, false},
		{"exp huge", `{` + head + `,"sub":"u","exp":1e400}`, false},
		{"exp 1e13", `{` + head + `,"sub":"u","exp":1e13}`, false},
		{"exp missing", `{` + head + `,"sub":"u"}`, false},
		{"expired", `{` + head + fmt.Sprintf(`,"sub":"u","exp":%d`, iat) + `}`, false},
		{"nbf future", valid(fmt.Sprintf(`,"nbf":%d`, exp)), false},
		{"iat future", `{` + head + fmt.Sprintf(`,"sub":"u","exp":%d,"iat":%d`, exp, exp) + `}`, false},
		{"leading zero", valid(`,"n":01`), false},
		{"plus sign", valid(`,"n":+1`), false},
		{"leading dot", valid(`,"n":.5`), false},
		{"trailing dot", valid(`,"n":1.`), false},
		{"bare exponent", valid(`,"n":1e`), false},
		{"hex", valid(`,"n":0x10`), false},
		{"underscore", valid(`,"n":1_0`), false},
		{"NaN", valid(`,"n":NaN`), false},
		{"Infinity", valid(`,"n":-Infinity`), false},
		{"truex", valid(`,"b":truex`), false},
		{"nul", valid(`,"b":nul`), false},
		{"True", valid(`,"b":True`), false},
		{"single quotes", valid(`,'b':1`), false},
		{"trailing comma", valid(`,`), false},
		{"trailing comma array", valid(`,"a":[1,]`), false},
		{"missing value", valid(`,"a":`), false},
		{"trailing data", valid("") + "x", false},
		{"two objects", valid("") + "{}", false},
		{"NUL after", valid("") + "\x00", false},
		{"array", `[` + valid("") + `]`, false},
		{"null", `null`, false},
		{"string", `"x"`, false},
		{"empty", ``, false},
		{"aud array", `{` + fmt.Sprintf(`"iss":%q,"aud":["other",%q]`, e.iss, testAudience) + fmt.Sprintf(`,"sub":"u","exp":%d`, exp) + `}`, true},
		{"aud wrong", `{` + fmt.Sprintf(`"iss":%q,"aud":["other"]`, e.iss) + fmt.Sprintf(`,"sub":"u","exp":%d`, exp) + `}`, false},
		{"aud mixed", `{` + fmt.Sprintf(`"iss":%q,"aud":[%q,1]`, e.iss, testAudience) + fmt.Sprintf(`,"sub":"u","exp":%d`, exp) + `}`, false},
		{"iss escaped", `{"iss":"` + strings.ReplaceAll(e.iss, "/", `\/`) + fmt.Sprintf(`","aud":%q`, testAudience) + fmt.Sprintf(`,"sub":"u","exp":%d`, exp) + `}`, true},
		{"iss other", `{"iss":"https://evil.example","aud":"x","sub":"u","exp":1}`, false},
		{"sub empty", `{` + head + fmt.Sprintf(`,"sub":"","exp":%d`, exp) + `}`, false},
		{"sub number", `{` + head + fmt.Sprintf(`,"sub":1,"exp":%d`, exp) + `}`, false},
		{"scopes and groups", valid(`,"scp":["a","b c",""],"groups":["g",1,"g"],"amr":["pwd","mfa"],"acr":"2","auth_time":1.5,"client_id":"c","azp":"z","name":"","preferred_username":"pu"`), true},
		{"scope tabs", valid(`,"scope":"a\tb  c"`), true},
		{"huge claims", valid(`,"blob":"` + strings.Repeat("x", 4000) + `"`), true},
	}
	return cs
}

// TestDecodeClaimsMatchesEncodingJSON checks decodeClaims against
// decodeObject (encoding/json) on the corpus: whenever decodeClaims
// decodes, decodeObject decodes the same value; and the common shapes
// are decoded (not all left to encoding/json).
func TestDecodeClaimsMatchesEncodingJSON(t *testing.T) {
	e := &diffEnv{iss: "https://idp.example"}
	decoded := 0
	for _, c := range claimsCases(e) {
		t.Run(c.name, func(t *testing.T) {
			if sameClaimsDecoding(t, []byte(c.claims)) {
				decoded++
			}
		})
	}
	for _, s := range []string{`{}`, ` {"a" : [ 1 , {"b":null} ] } `, `{"a":"\/"}`, `{"a":-0.0e-0}`} {
		if !sameClaimsDecoding(t, []byte(s)) {
			t.Errorf("decodeClaims does not decode %s", s)
		}
	}
	if decoded < 20 {
		t.Errorf("decodeClaims decoded only %d corpus texts", decoded)
	}
}

// sameClaimsDecoding fails t when decodeClaims decodes data to anything
// but what decodeObject does, or decodes what decodeObject refuses. It
// reports whether decodeClaims decoded data.
func sameClaimsDecoding(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := decodeClaims(data)
	want, err := decodeObject(data)
	if !ok {
		if got != nil {
			t.Fatalf("decodeClaims returned a value with ok false for %q", data)
		}
		return false
	}
	if err != nil {
		t.Fatalf("decodeClaims decodes what encoding/json refuses (%v): %q", err, data)
	}
	if !strictSame(got, want) {
		t.Fatalf("decodeClaims differs from encoding/json for %q:\n got  %#v\n want %#v", data, got, want)
	}
	return true
}

func FuzzDecodeClaims(f *testing.F) {
	e := &diffEnv{iss: "https://idp.example"}
	for _, c := range claimsCases(e) {
		f.Add([]byte(c.claims))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameClaimsDecoding(t, data)
	})
}

// strictSame is reflect.DeepEqual for decoded JSON, except that numbers
// are compared by their bits (so -0 is not 0) and a nil slice or map is
// not an empty one.
func strictSame(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !strictSame(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, present := y[k]
			if !present || !strictSame(v, w) {
				return false
			}
		}
		return true
	}
	return false
}
