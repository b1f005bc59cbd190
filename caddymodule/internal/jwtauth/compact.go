package jwtauth

import (
	"strings"
)

// maxPlainHeader bounds the decoded JOSE header parsePlain reads; a
// larger header goes to parseLegacy.
const maxPlainHeader = 512

// plainHeaderNames are the JOSE header members a plain token may carry:
// the ones Portcullis reads (alg, kid, typ) and ones go-jose only stores
// (cty, x5t, x5t#S256). Any other member, among them crit, b64, jwk, jku,
// x5u, x5c and nonce, sends the token down the legacy path, which reads
// it as it always has.
var plainHeaderNames = [...]string{"alg", "kid", "typ", "cty", "x5t", "x5t#S256"}

// algorithmNames are the keys of algorithms, for algName.
var algorithmNames = func() []string {
	names := make([]string, 0, len(algorithms))
	for name := range algorithms {
		names = append(names, name)
	}
	return names
}()

// parse splits a compact JWS (RFC 7515 §7.1) and decodes its header and
// claims. A token in the common shape (see parsePlain) is read without
// reflection and marked plain, so its signature is checked without
// go-jose; any other token is read by parseLegacy, with its errors.
func parse(token string) (*parsedToken, *Error) {
	if t := parsePlain(token); t != nil {
		return t, nil
	}
	return parseLegacy(token)
}

// parsePlain reads a token in the common shape, or returns nil when the
// token is not in it, leaving every judgement to parseLegacy. The shape:
// three non-empty segments of strict unpadded base64url and nothing else
// (base64 decoders skip CR and LF; go-jose then signs a re-encoding that
// lacks them, so such a token is not plain), a header that is one JSON
// object whose members are among plainHeaderNames, each at most once,
// each a string of printable ASCII without escapes, with a string alg
// other than none, and claims decodeClaims reads (or decodeObject
// accepts). On such a token parseLegacy returns the same header, payload
// and claims, and go-jose would verify exactly the bytes up to the last
// dot, as sent: the strict decoding re-encodes to the same text.
func parsePlain(token string) *parsedToken {
	h, rest, _ := strings.Cut(token, ".")
	p, sig, ok := strings.Cut(rest, ".")
	if !ok || h == "" || p == "" || sig == "" || strings.IndexByte(sig, '.') >= 0 ||
		strings.IndexByte(token, '\r') >= 0 || strings.IndexByte(token, '\n') >= 0 || b64.DecodedLen(len(h)) > maxPlainHeader {
		return nil
	}
	var hbuf [maxPlainHeader]byte
	n, err := b64.Decode(hbuf[:], []byte(h))
	if err != nil {
		return nil
	}
	t := &parsedToken{plain: true, signed: len(h) + 1 + len(p)}
	if !parsePlainHeader(hbuf[:n], &t.header) {
		return nil
	}
	if t.sig, err = b64.DecodeString(sig); err != nil {
		return nil
	}
	if t.payload, err = b64.DecodeString(p); err != nil {
		return nil
	}
	var claimsOK bool
	if t.claims, claimsOK = decodeClaims(t.payload); !claimsOK {
		if t.claims, err = decodeObject(t.payload); err != nil {
			return nil
		}
	}
	return t
}

// parsePlainHeader reads a plain JOSE header (see parsePlain) into hd,
// reporting false when the header is not plain.
func parsePlainHeader(b []byte, hd *header) bool {
	var seen [len(plainHeaderNames)]bool
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipJSONSpace(b, i+1)
	for {
		name, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		k := 0
		for k < len(plainHeaderNames) && string(name) != plainHeaderNames[k] {
			k++
		}
		if k == len(plainHeaderNames) || seen[k] {
			return false
		}
		seen[k] = true
		i = skipJSONSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		val, j, ok := plainString(b, skipJSONSpace(b, i+1))
		if !ok {
			return false
		}
		switch plainHeaderNames[k] {
		case "alg":
			hd.alg = algName(val)
		case "kid":
			hd.kid = string(val)
		case "typ":
			hd.typ = string(val)
		}
		i = skipJSONSpace(b, j)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return false
		}
		i = skipJSONSpace(b, i+1)
	}
	return seen[0] && !strings.EqualFold(hd.alg, "none") && skipJSONSpace(b, i+1) == len(b)
}

// plainString reads the JSON string at b[i]: printable ASCII other than
// '"' and '\\' between quotes. It returns the contents and the index
// after the closing quote; ok is false for any other string or none.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipJSONSpace returns the index of the first byte at or after i that
// is not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// algName returns b as a string, without allocating when it names a
// known algorithm.
func algName(b []byte) string {
	for _, name := range algorithmNames {
		if string(b) == name {
			return name
		}
	}
	return string(b)
}
