package clientreg

import (
	"net/url"
	"strconv"
	"strings"
)

// redirectError is an invalid redirect URI in metadata, phrased for the
// client.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return "redirect_uris: " + e.msg }

// validRedirectURI checks one redirect URI to be registered (RFC 6749
// §3.1.2, RFC 8252 §7, RFC 9700 §4.1): absolute, no fragment, no user
// information, and one of
//   - https with a host;
//   - http on a loopback host: 127.0.0.1, [::1] or localhost (native apps,
//     RFC 8252 §7.3; localhost is matched exactly, port included);
//   - a private-use scheme with a period in it, as RFC 8252 §7.1 asks
//     (reverse domain name, e.g. com.example.app:/callback), which also
//     keeps out javascript:, data:, file: and their kind.
func validRedirectURI(s string) error {
	if len(s) > maxURILength {
		return &redirectError{"a redirect URI is too long"}
	}
	if !plainURIChars(s) {
		return &redirectError{"a redirect URI holds characters a URI cannot hold"}
	}
	if strings.Contains(s, "#") {
		return &redirectError{"a redirect URI must not have a fragment"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return &redirectError{"a redirect URI must be an absolute URI"}
	}
	if u.User != nil {
		return &redirectError{"a redirect URI must not hold user information"}
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return &redirectError{"an https redirect URI needs a host"}
		}
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
		default:
			return &redirectError{"http redirect URIs are allowed only on loopback (127.0.0.1, [::1], localhost)"}
		}
		if p := u.Port(); p != "" && !validPort(p) {
			return &redirectError{"a redirect URI has an invalid port"}
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return &redirectError{"a native app's redirect URI must use a private-use scheme with a period (RFC 8252 §7.1) or https"}
		}
	}
	return nil
}

// validPort reports whether p is a decimal port 1-65535 without a leading
// zero.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// CheckRedirectURI reports whether uri is one of c's redirect URIs: exact
// string match, except that for loopback IP redirect URIs
// (http://127.0.0.1 / http://[::1]) any port matches (RFC 8252 §7.3). A
// mismatch is an *Error with Code CodeInvalidRedirectURI; the caller must
// then not redirect to uri.
func (r *Registry) CheckRedirectURI(c Client, uri string) error {
	if uri != "" {
		reqBase, reqLoop := loopbackBase(uri)
		for _, reg := range c.RedirectURIs {
			if reg == uri {
				return nil
			}
			if reqLoop {
				if regBase, ok := loopbackBase(reg); ok && regBase == reqBase {
					return nil
				}
			}
		}
	}
	return newError(CodeInvalidRedirectURI, ReasonRedirectURIMismatch,
		"redirect_uri is not registered for this client", nil)
}

// loopbackBase returns uri without its port if uri is an http URI on a
// loopback IP literal, as "http://127.0.0.1/path?query": the authority must
// be exactly the literal, optionally with a valid port, followed by the
// end, "/" or "?". A fragment or a character outside RFC 3986 disqualifies.
func loopbackBase(uri string) (string, bool) {
	if !plainURIChars(uri) || strings.Contains(uri, "#") {
		return "", false
	}
	for _, host := range []string{"http://127.0.0.1", "http://[::1]"} {
		rest, ok := strings.CutPrefix(uri, host)
		if !ok {
			continue
		}
		if port, ok := strings.CutPrefix(rest, ":"); ok {
			end := strings.IndexAny(port, "/?")
			if end < 0 {
				end = len(port)
			}
			if !validPort(port[:end]) {
				return "", false
			}
			rest = port[end:]
		}
		if rest == "" || rest[0] == '/' || rest[0] == '?' {
			return host + rest, true
		}
		return "", false
	}
	return "", false
}
