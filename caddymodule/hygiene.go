package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

// hygiene is the first step of every request a portcullis handler or
// guard sees, before any rule looks at it: it refuses a path that some
// server behind could read as another one, consumes the client's
// hop-by-hop nominations (so none can make the proxy behind drop a
// header the gateway sets), removes URL-override headers and, unless
// allowed, method-override headers, removes client copies of identity
// headers, and refuses trailers that name a protected header.
type hygiene struct {
	allowAmbiguousPaths bool
	allowMethodOverride bool
	// strip holds the identity header names whose client copies are
	// removed; trailers may carry none of them, nor a credential header.
	strip identityStripper
	// credentials are further names a trailer may not carry.
	credentials identityStripper
}

// newHygiene prepares the step for a route; apiKeyHeader may be empty.
func newHygiene(strip identityStripper, allowAmbiguousPaths, allowMethodOverride bool, apiKeyHeader string) hygiene {
	creds := identityStripper{}.with("Authorization").with("Cookie").with("Proxy-Authorization").with("X-Api-Key")
	for _, n := range append(request.MethodOverrideHeaders, request.URLOverrideHeaders...) {
		creds = creds.with(n)
	}
	if apiKeyHeader != "" {
		creds = creds.with(apiKeyHeader)
	}
	return hygiene{allowAmbiguousPaths: allowAmbiguousPaths, allowMethodOverride: allowMethodOverride, strip: strip, credentials: creds}
}

// apply cleans r in place and returns the method the upstream will act
// on (the override's, when allowed). An error is a 400 whose text is
// safe to show.
func (g hygiene) apply(r *http.Request) (string, error) {
	check := request.CheckPath
	if g.allowAmbiguousPaths {
		check = request.CheckPathLenient
	}
	if err := check(r.URL.EscapedPath()); err != nil {
		return "", err
	}
	if err := request.CheckTrailers(r, g.protected); err != nil {
		return "", err
	}
	request.StripLateTrailers(r, g.protected)
	request.StripHopByHop(r.Header)
	request.StripURLOverrides(r.Header)
	g.strip.strip(r.Header)
	method, err := request.Method(r, g.allowMethodOverride)
	if err != nil {
		return "", fmt.Errorf("method override: %w", err)
	}
	return method, nil
}

// protected reports whether a trailer may not carry name.
func (g hygiene) protected(name string) bool {
	return g.strip.has(name) || g.credentials.has(name)
}

// has reports whether name is one of s in any case, with '_' for '-'.
func (s identityStripper) has(name string) bool {
	for _, id := range s {
		if sameHeaderName(name, id) {
			return true
		}
	}
	return false
}
