package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// parseHandlerRoutes sets up the `portcullis` directive: the handler
// under its matcher and, when it has one, a Guard for the rest of the
// site, so the matcher cannot be skipped with a path the upstream reads
// differently (`/orders;x=1/1` against `portcullis /orders/*`). The
// guard carries the handler's options that shape the checks.
func parseHandlerRoutes(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	val, err := parseHandler(h)
	if err != nil {
		return nil, err
	}
	routes := h.NewRoute(matcherSet, val)
	if matcherSet == nil {
		return routes, nil
	}
	hd := val.(*Handler)
	// Warnings for what the path matcher leaves uncovered, and a route
	// for the handler's own paths it keeps from it (paths_caddyfile.go).
	routes = append(routes, pathRoutes(h, matcherSet, hd)...)
	g := &Guard{
		AllowAmbiguousPaths: hd.AllowAmbiguousPaths,
		AllowMethodOverride: hd.AllowMethodOverride,
		IdentityHeaders:     hd.IdentityHeaders,
	}
	if hd.Assertion != nil {
		g.AssertionHeader = hd.Assertion.Header
	}
	return append(routes, h.NewRoute(nil, g)...), nil
}
