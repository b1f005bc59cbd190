package mcp

import (
	"unicode/utf16"
	"unicode/utf8"
)

// str checks the string at p.pos and returns its content between the
// quotes, and whether it has escapes. It refuses control characters,
// invalid UTF-8, unknown escapes and unpaired surrogate escapes.
func (p *parser) str() (raw []byte, escaped bool, err error) {
	start := p.pos + 1
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return p.data[start:i], escaped, nil
		case c == '\\':
			escaped = true
			n, ok := escapeLen(p.data[i:])
			if !ok {
				p.pos = i
				return nil, false, p.fail("invalid escape or unpaired surrogate in a string")
			}
			i += n
		case c < 0x20:
			p.pos = i
			return nil, false, p.fail("control character in a string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && size == 1 {
				p.pos = i
				return nil, false, p.fail("invalid UTF-8")
			}
			i += size
		}
	}
	p.pos = len(p.data)
	return nil, false, p.fail("unterminated string")
}

// escapeLen returns the length of the escape at the start of b; a high
// surrogate \uD800-\uDBFF must be followed by a low one, and a low one
// may not stand alone.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		r, ok := hex4(b[2:])
		switch {
		case !ok:
			return 0, false
		case utf16.IsSurrogate(r) && r < 0xDC00:
			if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
				return 0, false
			}
			if lo, ok := hex4(b[8:]); ok && 0xDC00 <= lo && lo <= 0xDFFF {
				return 12, true
			}
			return 0, false
		case utf16.IsSurrogate(r):
			return 0, false
		}
		return 6, true
	}
	return 0, false
}

// hex4 decodes four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape decodes the content of a string that str has checked.
func unescape(raw []byte, escaped bool) []byte {
	if !escaped {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			i++
			continue
		}
		switch c := raw[i+1]; c {
		case 'u':
			r, _ := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(raw[i+2:])
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // " \ /
			out = append(out, c)
		}
		i += 2
	}
	return out
}

// shorten cuts s to at most 40 bytes on a rune boundary, for messages.
func shorten(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
