package jwtauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// b64 decodes base64url without padding and rejects non-canonical
// encodings (stray trailing bits), so one token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// errDuplicateKey reports a JSON object with a repeated member name.
var errDuplicateKey = errors.New("duplicate member name")

// header is the part of a JOSE header Portcullis reads.
type header struct {
	alg string
	kid string
	typ string
}

// parsedToken is a token split and decoded but not verified: nothing in it
// may be trusted before the signature is.
type parsedToken struct {
	header  header
	payload []byte
	claims  map[string]any
	// plain marks a token parsePlain read: its signature is sig, over the
	// token's first signed bytes (up to its last dot), and is checked
	// without go-jose.
	plain  bool
	sig    []byte
	signed int
}

// parseLegacy splits a compact JWS (RFC 7515 §7.1) and decodes its
// header and claims with encoding/json, rejecting anything ambiguous: a wrong segment count, an empty
// signature, padding or non-canonical base64url, duplicate JSON member
// names at the top level of the header or the claims, trailing data, a
// `crit` header (no extension is understood, RFC 7515 §4.1.11) and
// `alg: none` (an unsecured JWS, RFC 7519 §6), and line breaks anywhere.
// It reads every token parsePlain does not, and is what parsePlain is
// tested against.
func parseLegacy(token string) (*parsedToken, *Error) {
	if strings.ContainsAny(token, "\r\n") {
		// Base64 decoders skip line breaks and go-jose signs a
		// re-encoding without them: refused, so that one token has one
		// spelling (a logout_token arrives in a form, not a header).
		return nil, fail(ErrMalformed, ReasonMalformed, "token contains a line break")
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, fail(ErrMalformed, ReasonMalformed, "not a compact JWS (want three segments)")
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(sig, '.') >= 0 {
		return nil, fail(ErrMalformed, ReasonMalformed, "not a compact JWS (want three segments)")
	}
	hb, err := b64.DecodeString(h)
	if err != nil || len(hb) == 0 {
		return nil, fail(ErrMalformed, ReasonMalformed, "header is not base64url")
	}
	hm, err := decodeObject(hb)
	if err != nil {
		return nil, jsonFail("header", err)
	}
	var t parsedToken
	if _, ok := hm["crit"]; ok {
		return nil, fail(ErrMalformed, ReasonCritical, "crit header not supported")
	}
	if t.header.alg, ok = hm["alg"].(string); !ok {
		return nil, fail(ErrMalformed, ReasonMalformed, "header has no string alg")
	}
	if strings.EqualFold(t.header.alg, "none") {
		return nil, fail(ErrUnsupportedAlg, ReasonAlgNone, "alg none is never accepted")
	}
	if t.header.kid, ok = optString(hm, "kid"); !ok {
		return nil, fail(ErrMalformed, ReasonMalformed, "header kid is not a string")
	}
	if t.header.typ, ok = optString(hm, "typ"); !ok {
		return nil, fail(ErrMalformed, ReasonMalformed, "header typ is not a string")
	}
	if p == "" || sig == "" {
		return nil, fail(ErrMalformed, ReasonMalformed, "empty payload or signature")
	}
	if _, err := b64.DecodeString(sig); err != nil {
		return nil, fail(ErrMalformed, ReasonMalformed, "signature is not base64url")
	}
	if t.payload, err = b64.DecodeString(p); err != nil {
		return nil, fail(ErrMalformed, ReasonMalformed, "payload is not base64url")
	}
	if t.claims, err = decodeObject(t.payload); err != nil {
		return nil, jsonFail("claims", err)
	}
	return &t, nil
}

// jsonFail maps a decodeObject error to ErrMalformed.
func jsonFail(part string, err error) *Error {
	if errors.Is(err, errDuplicateKey) {
		return fail(ErrMalformed, ReasonDuplicateKey, part+" has a duplicate member name")
	}
	return fail(ErrMalformed, ReasonMalformed, part+" is not a JSON object")
}

// optString returns m[name] when it is a string, "" when absent, and
// false when present with another type.
func optString(m map[string]any, name string) (string, bool) {
	v, present := m[name]
	if !present {
		return "", true
	}
	s, ok := v.(string)
	return s, ok
}

// decodeObject decodes one JSON object, rejecting repeated member names
// at its top level (RFC 7515 §4 and RFC 7519 §4 let a parser reject them;
// accepting them lets two parsers read different values) and any data
// after it. Names are compared after unescaping, so "alg" and "\u0061lg"
// collide: encoding/json merges equal names into one map entry, so more
// top-level members than map entries means a repeat.
func decodeObject(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	if m == nil { // the JSON was null
		return nil, errors.New("not an object")
	}
	if countMembers(data) != len(m) {
		return nil, errDuplicateKey
	}
	return m, nil
}

// countMembers counts the members of the top-level object in data, which
// must be valid JSON (json.Unmarshal has checked it): the colons outside
// strings at nesting depth one.
func countMembers(data []byte) int {
	n, depth, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++ // skip the escaped character
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}
