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

// ReturnPolicy says which absolute URLs a login may return to, besides
// paths on the host that serves the login: hosts of Domain (the session
// cookie's domain) and the listed Hosts. The zero value allows paths
// only.
type ReturnPolicy struct {
	// Domain allows the domain itself and every host under it (label
	// boundary: "app.example.com" for "example.com", never
	// "evilexample.com" nor "example.com.evil.net").
	Domain string
	// Hosts are further host names allowed exactly.
	Hosts []string
	// AllowHTTP accepts http:// as well as https:// (insecure cookies,
	// for local development).
	AllowHTTP bool
}

// Allows reports whether raw is a safe place to return to: a path that
// ValidReturnPath accepts, or an absolute http(s) URL whose host the
// policy allows, written plainly: lower-case ASCII letters, digits,
// hyphens and dots (IDN in its xn-- form), an optional port, no
// userinfo, no percent-encoding or backslash in the authority, and a
// path, query and fragment ValidReturnPath accepts.
func (p ReturnPolicy) Allows(raw string) bool {
	if leadingSlash(raw) {
		return ValidReturnPath(raw)
	}
	if p.Domain == "" && len(p.Hosts) == 0 || len(raw) > MaxReturnPathLength {
		return false
	}
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok && p.AllowHTTP {
		rest, ok = strings.CutPrefix(raw, "http://")
	}
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	authority, path := rest, "/"
	if end >= 0 {
		authority, path = rest[:end], rest[end:]
		if path[0] != '/' {
			path = "/" + path
		}
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if hasPort && !validPort(port) {
		return false
	}
	if !plainHost(host) || !p.hostAllowed(host) {
		return false
	}
	return ValidReturnPath(path)
}

// hostAllowed reports whether host is the domain, under it, or listed.
func (p ReturnPolicy) hostAllowed(host string) bool {
	if p.Domain != "" && InDomain(host, p.Domain) {
		return true
	}
	for _, h := range p.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// plainHost reports whether h is a DNS name written plainly: labels of
// lower-case ASCII letters, digits and inner hyphens, 1 to 63 bytes
// each, at most 253 in all, no empty label (so no trailing dot).
func plainHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if b := label[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}

// InDomain reports whether host is domain or a host under it, at a
// label boundary ("app.example.com" is in "example.com";
// "evilexample.com" and "example.com.evil.net" are not), ignoring case
// and a trailing dot of domain.
func InDomain(host, domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	host = strings.ToLower(host)
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// ReturnPolicyHost reports whether h is a host name as ReturnPolicy
// accepts it: lower-case ASCII labels of letters, digits and inner
// hyphens.
func ReturnPolicyHost(h string) bool { return plainHost(h) }

// validPort reports whether s is a port number 1-65535 without sign or
// leading zero.
func validPort(s string) bool {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// Safe returns raw if the policy allows it, else "/".
func (p ReturnPolicy) Safe(raw string) string {
	if p.Allows(raw) {
		return raw
	}
	return "/"
}
