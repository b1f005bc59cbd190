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
	// remove holds the names removed in one pass: identity headers, URL
	// overrides and, unless allowed, method overrides.
	remove request.HeaderSet
	// protected holds the names no trailer may carry: identity headers,
	// credential headers and overrides.
	protected request.HeaderSet
}

// newHygiene prepares the step for a route; apiKeyHeader may be empty.
func newHygiene(strip request.HeaderSet, allowAmbiguousPaths, allowMethodOverride bool, apiKeyHeader string) hygiene {
	remove := strip.With(request.URLOverrideHeaders...)
	if !allowMethodOverride {
		remove = remove.With(request.MethodOverrideHeaders...)
	}
	protected := strip.With("Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key").
		With(request.MethodOverrideHeaders...).With(request.URLOverrideHeaders...)
	if apiKeyHeader != "" {
		protected = protected.With(apiKeyHeader)
	}
	return hygiene{allowAmbiguousPaths: allowAmbiguousPaths, allowMethodOverride: allowMethodOverride, remove: remove, protected: protected}
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
	if err := request.CheckTrailers(r, g.protected.Has); err != nil {
		return "", err
	}
	request.StripLateTrailers(r, g.protected.Has)
	request.StripHopByHop(r.Header)
	g.remove.Strip(r.Header)
	method, err := request.MethodStripped(r, g.allowMethodOverride)
	if err != nil {
		return "", fmt.Errorf("method override: %w", err)
	}
	return method, nil
}
