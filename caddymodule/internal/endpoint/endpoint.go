// Package endpoint checks the URLs Portcullis talks to (OpenID
// providers, JWT issuers, JWKS endpoints): TLS is required except on
// loopback, where test and sidecar setups run plain HTTP.
package endpoint

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckSecureURL parses raw and returns an error unless it is an
// absolute https URL, or an http URL whose host is a loopback address
// or "localhost". what names the setting in the error ("issuer").
func CheckSecureURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid URL: %w", what, raw, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s %q must be an absolute https:// URL", what, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s %q must not contain credentials", what, redact(u))
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s %q uses plain http on a host that is not loopback; use https", what, raw)
	}
	return u, nil
}

// IsLoopback reports whether host (no port) is "localhost" or a
// loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
