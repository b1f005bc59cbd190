// Package forwardauth reads the request a proxy asks the gateway about.
//
// A proxy in front of an application (nginx auth_request, Traefik
// forwardAuth, Caddy's forward_auth, HAProxy, Envoy ext_authz) does not
// send the client's request to the gateway: it sends a check request that
// describes it. This package turns that description back into the
// original request, so that the gateway judges it exactly as it judges a
// request it receives itself, or refuses the description when it is
// missing, incomplete, ambiguous or self-contradictory. It never guesses:
// a missing method is not GET, a missing host is not the check request's
// own.
//
// Two ways of describing are read:
//
//   - headers (FromHeaders): X-Forwarded-Method, X-Forwarded-Proto,
//     X-Forwarded-Host and X-Forwarded-Uri (Traefik, Caddy, HAProxy), or
//     X-Original-Method and X-Original-URI with X-Forwarded-Proto and
//     X-Forwarded-Host (the nginx auth_request convention);
//   - the request line (FromPath): Envoy's ext_authz HTTP service sends
//     the original method and Host, and the original path after a fixed
//     prefix.
//
// Only a proxy the gateway trusts may describe a request: the caller
// checks the peer before reading anything here.
package forwardauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The headers a proxy describes the original request with.
const (
	HeaderMethod         = "X-Forwarded-Method"
	HeaderProto          = "X-Forwarded-Proto"
	HeaderHost           = "X-Forwarded-Host"
	HeaderURI            = "X-Forwarded-Uri"
	HeaderOriginalURI    = "X-Original-Uri"
	HeaderOriginalMethod = "X-Original-Method"
)

// MetaHeaders are the headers that describe the original request rather
// than belong to it; Rebuild leaves them out of the rebuilt request.
var MetaHeaders = []string{HeaderMethod, HeaderProto, HeaderHost, HeaderURI, HeaderOriginalURI, HeaderOriginalMethod,
	"X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Prefix"}

// MaxURILength bounds the original request target, in bytes.
const MaxURILength = 8192

// ErrDescription is the class of every refused description; the
// wrapped detail names the header and what is wrong with it, and is safe
// to show to the client.
var ErrDescription = errors.New("the proxy's description of the request is not usable")

// Request is the original request as the proxy describes it.
type Request struct {
	// Method is the request method, as the client sent it.
	Method string
	// Scheme is "http" or "https".
	Scheme string
	// Host is host[:port], in lower case.
	Host string
	// URI is the request target in origin form: the path exactly as
	// sent (escapes kept, for the strict path check) and the query.
	URI string
}

// URL returns the absolute URL of the request: scheme://host/path?query.
func (o Request) URL() string { return o.Scheme + "://" + o.Host + o.URI }

// FromHeaders reads the original request from the X-Forwarded-* and
// X-Original-* headers. Each of method, scheme, host and target must be
// given exactly once: a header sent twice (or as a comma-separated list,
// where a list cannot be a single value) is refused, and so are
// X-Forwarded-Uri and X-Original-URI (or X-Forwarded-Method and
// X-Original-Method) that disagree.
func FromHeaders(h http.Header) (Request, error) {
	var o Request
	var err error
	if o.Method, err = oneOf(h, HeaderMethod, HeaderOriginalMethod); err != nil {
		return o, err
	}
	if o.URI, err = oneOf(h, HeaderURI, HeaderOriginalURI); err != nil {
		return o, err
	}
	if o.Host, err = single(h, HeaderHost); err != nil {
		return o, err
	}
	if o.Scheme, err = single(h, HeaderProto); err != nil {
		return o, err
	}
	return o.checked()
}

// FromPath reads the original request the way Envoy's ext_authz HTTP
// service sends it: the check request's own method and Host, and its
// target after prefix (which starts with '/' and does not end with one).
// The scheme comes from X-Forwarded-Proto, which must be sent. Any
// X-Forwarded-*/X-Original-* description sent as well must agree.
func FromPath(method, host, target, prefix string, h http.Header) (Request, error) {
	uri, ok := strings.CutPrefix(target, prefix)
	if !ok || !strings.HasPrefix(uri, "/") {
		return Request{}, fmt.Errorf("%w: the check request's path does not start with %s/", ErrDescription, prefix)
	}
	o := Request{Method: method, Host: host, URI: uri}
	var err error
	if o.Scheme, err = single(h, HeaderProto); err != nil {
		return o, err
	}
	for _, c := range []struct {
		name, want string
		fold       bool
	}{
		{HeaderMethod, method, false}, {HeaderOriginalMethod, method, false}, {HeaderURI, uri, false},
		{HeaderOriginalURI, uri, false}, {HeaderHost, host, true},
	} {
		v, ok := h[c.name]
		if ok && (len(v) != 1 || v[0] != c.want && !(c.fold && strings.EqualFold(v[0], c.want))) {
			return o, fmt.Errorf("%w: %s contradicts the check request", ErrDescription, c.name)
		}
	}
	return o.checked()
}

// Origin reads the scheme and host a trusted proxy says a request to
// the gateway's own endpoints (login, callback, logout) came to: the
// X-Forwarded-Proto and X-Forwarded-Host headers, each optional. An
// empty result means the header was not sent.
func Origin(h http.Header) (scheme, host string, err error) {
	if _, ok := h[HeaderProto]; ok {
		if scheme, err = single(h, HeaderProto); err == nil {
			scheme, err = checkScheme(scheme)
		}
		if err != nil {
			return "", "", err
		}
	}
	if _, ok := h[HeaderHost]; ok {
		if host, err = single(h, HeaderHost); err == nil {
			host, err = checkHost(host)
		}
	}
	return scheme, host, err
}

// oneOf returns the value of whichever of two synonymous headers is
// sent; both may be, with the same value.
func oneOf(h http.Header, a, b string) (string, error) {
	_, hasA := h[a]
	_, hasB := h[b]
	switch {
	case hasA && hasB:
		va, err := single(h, a)
		if err != nil {
			return "", err
		}
		vb, err := single(h, b)
		if err != nil {
			return "", err
		}
		if va != vb {
			return "", fmt.Errorf("%w: %s and %s disagree", ErrDescription, a, b)
		}
		return va, nil
	case hasB:
		return single(h, b)
	}
	return single(h, a)
}

// single returns the one value of a header, refusing a missing, empty
// or repeated one.
func single(h http.Header, name string) (string, error) {
	v := h[name]
	switch {
	case len(v) == 0:
		return "", fmt.Errorf("%w: %s is missing", ErrDescription, name)
	case len(v) > 1:
		return "", fmt.Errorf("%w: %s is sent more than once", ErrDescription, name)
	case v[0] == "":
		return "", fmt.Errorf("%w: %s is empty", ErrDescription, name)
	}
	return v[0], nil
}

// checked validates every part and normalizes scheme and host.
func (o Request) checked() (Request, error) {
	var err error
	if !isToken(o.Method) {
		return o, fmt.Errorf("%w: the method is not an HTTP method token", ErrDescription)
	}
	if o.Scheme, err = checkScheme(o.Scheme); err != nil {
		return o, err
	}
	if o.Host, err = checkHost(o.Host); err != nil {
		return o, err
	}
	if err := checkURI(o.URI); err != nil {
		return o, err
	}
	return o, nil
}

// checkScheme accepts http and https, in any case.
func checkScheme(s string) (string, error) {
	s = strings.ToLower(s)
	if s != "http" && s != "https" {
		return "", fmt.Errorf("%w: %s must be http or https", ErrDescription, HeaderProto)
	}
	return s, nil
}

// checkHost accepts host[:port] where host is a DNS name (letters,
// digits, '-', '.'), an IPv4 address or a bracketed IPv6 address, and
// returns it in lower case. A list ("a, b"), userinfo, a path or any
// other character is refused.
func checkHost(s string) (string, error) {
	bad := fmt.Errorf("%w: the host is not host[:port]", ErrDescription)
	if len(s) > 261 {
		return "", bad
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", bad
		}
		host, port = s[:end+1], s[end+1:]
		for _, c := range host[1:end] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return "", bad
			}
		}
		if end < 3 {
			return "", bad
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i:]
	}
	if port != "" {
		p := port[1:]
		if port[0] != ':' || p == "" || len(p) > 5 || strings.TrimLeft(p, "0123456789") != "" {
			return "", bad
		}
	}
	if !strings.HasPrefix(host, "[") {
		// A trailing dot or an empty label: proxies differ on whether
		// "admin.example.com." is admin.example.com, and host matchers
		// do not match it, so a policy could be skipped.
		if host == "" || len(host) > 253 || host[0] == '.' || host[0] == '-' || host[len(host)-1] == '.' || strings.Contains(host, "..") {
			return "", bad
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return "", bad
			}
		}
	}
	return strings.ToLower(s), nil
}

// checkURI accepts an origin-form request target: it starts with '/',
// is at most MaxURILength bytes and holds no control byte, space or
// non-ASCII byte (a client's request line holds none either). What the
// path means is the strict path check's business, after this.
func checkURI(s string) error {
	if !strings.HasPrefix(s, "/") {
		return fmt.Errorf("%w: the request target must be a path starting with '/'", ErrDescription)
	}
	if len(s) > MaxURILength {
		return fmt.Errorf("%w: the request target is longer than %d bytes", ErrDescription, MaxURILength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: the request target holds a control, space or non-ASCII byte", ErrDescription)
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (a method).
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
