package jwtauth

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxClaimsDepth bounds the nesting of objects and arrays the claims
// decoder follows; deeper claims go to encoding/json.
const maxClaimsDepth = 32

// decodeClaims decodes a JWT claims set (a JSON object) into the value
// encoding/json would produce for a map[string]any (float64 numbers,
// []any arrays, map[string]any objects, strings, bools, nil), without
// reflection. It reads only an unambiguous subset of JSON, and for
// anything else it reports ok false, leaving the caller to decodeObject,
// which then accepts or refuses exactly as before:
//
//   - a repeated member name in any object (decodeObject refuses one at
//     the top level; encoding/json keeps the last one in nested objects);
//   - a \u escape (surrogates, and names such as "\u0061ud" that equal
//     another after unescaping);
//   - invalid UTF-8, which encoding/json would replace with U+FFFD;
//   - a number strconv.ParseFloat refuses (out of range);
//   - nesting deeper than maxClaimsDepth;
//   - anything that is not JSON: control characters in strings, numbers
//     outside the JSON grammar, data after the object.
//
// Strings without escapes share one copy of the payload, so decoding
// allocates the map, the slices and the boxed values, and one string.
func decodeClaims(payload []byte) (m map[string]any, ok bool) {
	d := claimsDecoder{s: string(payload)}
	d.skipSpace()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		return nil, false
	}
	m, ok = d.object()
	if !ok {
		return nil, false
	}
	d.skipSpace()
	if d.i != len(d.s) {
		return nil, false
	}
	return m, true
}

// claimsDecoder is the state of decodeClaims: the input and a position.
type claimsDecoder struct {
	s     string
	i     int
	depth int
}

// skipSpace skips JSON whitespace (RFC 8259 §2: space, tab, LF, CR).
func (d *claimsDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i (whitespace already skipped).
func (d *claimsDecoder) value() (any, bool) {
	if d.i >= len(d.s) {
		return nil, false
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += len("true")
		return true, true
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += len("false")
		return false, true
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += len("null")
		return nil, true
	}
	return nil, false
}

// object decodes the object at d.i, which is at its '{'. A literal such
// as "true" directly followed by another character is left for the
// caller's delimiter check, which refuses it.
func (d *claimsDecoder) object() (map[string]any, bool) {
	if d.depth++; d.depth > maxClaimsDepth {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++ // '{'
	m := make(map[string]any)
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, false
		}
		name, ok := d.str()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.skipSpace()
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		if _, dup := m[name]; dup {
			return nil, false
		}
		m[name] = v
		switch end, ok := d.separator('}'); {
		case !ok:
			return nil, false
		case end:
			return m, true
		}
	}
}

// array decodes the array at d.i, which is at its '['. An empty array is
// an empty, non-nil slice, as encoding/json makes it.
func (d *claimsDecoder) array() ([]any, bool) {
	if d.depth++; d.depth > maxClaimsDepth {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++ // '['
	a := []any{}
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		switch end, ok := d.separator(']'); {
		case !ok:
			return nil, false
		case end:
			return a, true
		}
	}
}

// separator reads what follows a member or an element, after white
// space: ',' (then white space; end is false) or closing, which ends the
// object or array (end is true); anything else is not JSON (ok false).
func (d *claimsDecoder) separator(closing byte) (end, ok bool) {
	d.skipSpace()
	if d.i >= len(d.s) {
		return false, false
	}
	switch d.s[d.i] {
	case ',':
		d.i++
		d.skipSpace()
		return false, true
	case closing:
		d.i++
		return true, true
	}
	return false, false
}

// str decodes the string at d.i, which is at its opening quote. The
// escapes \" \\ \/ \b \f \n \r \t are decoded; \u is left to
// encoding/json, as is invalid UTF-8.
func (d *claimsDecoder) str() (string, bool) {
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.s); j++ {
		switch c := d.s[j]; {
		case c == '"':
			d.i = j + 1
			out := d.s[start:j]
			return out, ascii || utf8.ValidString(out)
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// escapedStr decodes a string that has an escape, starting at start (just
// after the opening quote).
func (d *claimsDecoder) escapedStr(start int) (string, bool) {
	var b strings.Builder
	for j := start; j < len(d.s); j++ {
		c := d.s[j]
		switch {
		case c == '"':
			d.i = j + 1
			out := b.String()
			return out, utf8.ValidString(out)
		case c < 0x20:
			return "", false
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		j++
		if j >= len(d.s) {
			return "", false
		}
		switch d.s[j] {
		case '"', '\\', '/':
			b.WriteByte(d.s[j])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default: // \u and invalid escapes
			return "", false
		}
	}
	return "", false
}

// number decodes the number at d.i after checking it against the JSON
// grammar (RFC 8259 §6), which strconv.ParseFloat alone would not: it
// also takes "+1", ".5", "0x10", "1_0", "Inf".
func (d *claimsDecoder) number() (float64, bool) {
	s, j := d.s, d.i
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case j < len(s) && s[j] >= '1' && s[j] <= '9':
		j = digits(s, j)
	default:
		return 0, false
	}
	if j < len(s) && s[j] == '.' {
		k := digits(s, j+1)
		if k == j+1 {
			return 0, false
		}
		j = k
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := digits(s, j)
		if k == j {
			return 0, false
		}
		j = k
	}
	f, err := strconv.ParseFloat(s[d.i:j], 64)
	if err != nil {
		return 0, false
	}
	d.i = j
	return f, true
}

// digits returns the index of the first non-digit in s at or after j.
func digits(s string, j int) int {
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	return j
}
