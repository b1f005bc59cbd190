// Package request reads the parts of an HTTP request that policy decides
// on (path, method, hop-by-hop and override headers) the strict way:
// what another party behind or in front of the gateway (an upstream
// framework, a proxy, a client library) could read differently is
// refused rather than guessed.
package request

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrAmbiguousPath is the class of every path refusal; the wrapped
// detail names the offending construct and is safe to show.
var ErrAmbiguousPath = errors.New("the request path is ambiguous")

// CheckPath reports whether the escaped request path (as it will be
// sent upstream, URL.EscapedPath) reads the same to every mainstream
// server. It refuses, with an error wrapping ErrAmbiguousPath:
//
//   - a path that does not start with '/';
//   - raw bytes outside RFC 3986 pchar and '/' (controls, space, '\',
//     '"', '<', '>', '^', '`', '{', '|', '}', non-ASCII);
//   - ';' raw or encoded (path parameters: Tomcat, Jetty and Spring
//     strip them, and read "..;" as "..");
//   - '\' raw or encoded (IIS and some Windows stacks read it as '/');
//   - an encoded '/' (%2F), '%' (%25: double decoding) or control byte;
//   - a malformed percent-encoding, or bytes that do not decode to
//     valid UTF-8 (overlong forms such as %C0%AE are invalid UTF-8);
//   - a "." or ".." segment, raw or after decoding;
//   - an empty segment ("//"), which some servers merge and others keep.
//
// A trailing '/' is allowed.
func CheckPath(escaped string) error {
	if escaped == "" || escaped[0] != '/' {
		return fmt.Errorf("%w: it must start with '/'", ErrAmbiguousPath)
	}
	decoded := make([]byte, 0, len(escaped))
	segStart := 0 // index in decoded where the current segment starts
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			if i+2 >= len(escaped) || !isHex(escaped[i+1]) || !isHex(escaped[i+2]) {
				return fmt.Errorf("%w: malformed percent-encoding", ErrAmbiguousPath)
			}
			b := unhex(escaped[i+1])<<4 | unhex(escaped[i+2])
			i += 2
			switch {
			case b == '/':
				return fmt.Errorf("%w: encoded '/'", ErrAmbiguousPath)
			case b == '\\':
				return fmt.Errorf("%w: backslash", ErrAmbiguousPath)
			case b == ';':
				return fmt.Errorf("%w: path parameter ';'", ErrAmbiguousPath)
			case b == '%':
				return fmt.Errorf("%w: encoded '%%'", ErrAmbiguousPath)
			case b < 0x20 || b == 0x7f:
				return fmt.Errorf("%w: control character", ErrAmbiguousPath)
			}
			decoded = append(decoded, b)
		case c == '/':
			if err := checkSegment(decoded[segStart:], i); err != nil {
				return err
			}
			decoded = append(decoded, c)
			segStart = len(decoded)
		case c == ';':
			return fmt.Errorf("%w: path parameter ';'", ErrAmbiguousPath)
		case c == '\\':
			return fmt.Errorf("%w: backslash", ErrAmbiguousPath)
		case !isPathChar(c):
			return fmt.Errorf("%w: character %q not allowed", ErrAmbiguousPath, rune(c))
		default:
			decoded = append(decoded, c)
		}
	}
	if seg := decoded[segStart:]; len(seg) > 0 {
		if err := checkSegment(seg, -1); err != nil {
			return err
		}
	}
	if !utf8.Valid(decoded) {
		return fmt.Errorf("%w: not valid UTF-8", ErrAmbiguousPath)
	}
	return nil
}

// checkSegment refuses dot segments and, when the segment is followed
// by a '/' (at > 0), empty segments other than the leading root.
func checkSegment(seg []byte, at int) error {
	switch string(seg) {
	case ".", "..":
		return fmt.Errorf("%w: dot segment", ErrAmbiguousPath)
	case "":
		if at > 0 {
			return fmt.Errorf("%w: empty segment", ErrAmbiguousPath)
		}
	}
	return nil
}

// isPathChar reports whether c may appear raw in a path: RFC 3986
// unreserved, sub-delims other than ';', ':' and '@' ('/' and '%' are
// handled by the caller).
func isPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
