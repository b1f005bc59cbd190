package oidcflow

import (
	"net/url"
	"strings"
)

// MaxReturnPathLength bounds a return path, in bytes.
const MaxReturnPathLength = 2048

// SafeReturnPath returns raw if ValidReturnPath accepts it, else "/".
func SafeReturnPath(raw string) string {
	if ValidReturnPath(raw) {
		return raw
	}
	return "/"
}

// ValidReturnPath reports whether raw is safe to redirect to after login:
// a path on this origin, with optional query and fragment. It refuses
// (open redirects):
//
//   - anything but a path starting with a single "/": absolute URLs,
//     scheme-relative "//host", "/\host" (browsers read "\" as "/"),
//     "javascript:" and other schemes, relative paths;
//   - control characters (CR, LF, tab, NUL…), spaces, backslashes,
//     non-ASCII bytes and the other characters RFC 3986 never allows
//     unencoded (`"<>^`{|}`) anywhere;
//   - the same in percent-encoded form, decoded up to three times
//     ("%2F%2Fhost", "%5C", "%252F%252F", "%0D%0A"), in case a later hop
//     decodes them;
//   - dot segments ("/./", "/../"), which normalise into the above;
//   - more than MaxReturnPathLength bytes.
func ValidReturnPath(raw string) bool {
	if raw == "" || len(raw) > MaxReturnPathLength || !leadingSlash(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		// RFC 3986 allows none of these unencoded; browsers encode them.
		if b := raw[i]; b <= ' ' || b >= 0x7f || strings.IndexByte("\\\"<>^`{|}", b) >= 0 {
			return false
		}
	}
	decoded := raw
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil || !leadingSlash(d) || strings.ContainsFunc(d, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
			return false
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	p := decoded
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// leadingSlash reports whether s starts with exactly one "/" (not "//" or
// "/\").
func leadingSlash(s string) bool {
	return len(s) > 0 && s[0] == '/' && (len(s) == 1 || (s[1] != '/' && s[1] != '\\'))
}
