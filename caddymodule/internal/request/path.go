// Package request reads the parts of an HTTP request that policy decides
// on (path, method, hop-by-hop and override headers) the strict way:
// what another party behind or in front of the gateway (an upstream
// framework, a proxy, a client library) could read differently is
// refused rather than guessed.
package request

import (
	"bytes"
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
// It also refuses a segment that ends in '.' or ' ' (Windows and IIS
// drop them, so "/orders./1" is "/orders/1" there) and C1 control
// characters (U+0080 to U+009F). A trailing '/' is allowed.
func CheckPath(escaped string) error {
	return checkPath(escaped, false)
}

// CheckPathLenient is CheckPath for routes that opted out
// (allow_ambiguous_paths): it lets path parameters (';'), encoded '/'
// and '%' and empty segments through, but still refuses what is never
// legitimate and always lets a request climb out of where the route
// matched it: dot segments (also before a ';' parameter, "..;"),
// backslashes, trailing dots and spaces, control characters, malformed
// escapes and invalid UTF-8.
func CheckPathLenient(escaped string) error {
	return checkPath(escaped, true)
}

func checkPath(escaped string, lenient bool) error {
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
			case b == '/' && !lenient:
				return fmt.Errorf("%w: encoded '/'", ErrAmbiguousPath)
			case b == '\\':
				return fmt.Errorf("%w: backslash", ErrAmbiguousPath)
			case b == ';' && !lenient:
				return fmt.Errorf("%w: path parameter ';'", ErrAmbiguousPath)
			case b == '%' && !lenient:
				return fmt.Errorf("%w: encoded '%%'", ErrAmbiguousPath)
			case b < 0x20 || b == 0x7f:
				return fmt.Errorf("%w: control character", ErrAmbiguousPath)
			}
			decoded = append(decoded, b)
		case c == '/':
			if err := checkSegment(decoded[segStart:], i, lenient); err != nil {
				return err
			}
			decoded = append(decoded, c)
			segStart = len(decoded)
		case c == ';' && !lenient:
			return fmt.Errorf("%w: path parameter ';'", ErrAmbiguousPath)
		case c == ';':
			decoded = append(decoded, c)
		case c == '\\':
			return fmt.Errorf("%w: backslash", ErrAmbiguousPath)
		case !isPathChar(c):
			return fmt.Errorf("%w: character %q not allowed", ErrAmbiguousPath, rune(c))
		default:
			decoded = append(decoded, c)
		}
	}
	if seg := decoded[segStart:]; len(seg) > 0 {
		if err := checkSegment(seg, -1, lenient); err != nil {
			return err
		}
	}
	if !utf8.Valid(decoded) {
		return fmt.Errorf("%w: not valid UTF-8", ErrAmbiguousPath)
	}
	for _, r := range string(decoded) {
		if r >= 0x80 && r <= 0x9f {
			return fmt.Errorf("%w: control character", ErrAmbiguousPath)
		}
	}
	return nil
}

// checkSegment refuses dot segments (also "..;x", which Tomcat reads as
// ".."), a segment ending in '.' or ' ' and, when the segment is followed
// by a '/' (at > 0) and the check is not lenient, empty segments other
// than the leading root.
func checkSegment(seg []byte, at int, lenient bool) error {
	name := seg
	if i := bytes.IndexByte(seg, ';'); i >= 0 {
		name = seg[:i]
	}
	switch string(name) {
	case ".", "..":
		return fmt.Errorf("%w: dot segment", ErrAmbiguousPath)
	case "":
		if at > 0 && !lenient && len(seg) == 0 {
			return fmt.Errorf("%w: empty segment", ErrAmbiguousPath)
		}
		return nil
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return fmt.Errorf("%w: a segment ending in '.' or ' '", ErrAmbiguousPath)
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
