package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("portcullis_guard", parseGuard)
	httpcaddyfile.RegisterDirectiveOrder("portcullis_guard", httpcaddyfile.Before, "redir")
}

// guardedState marks, in the server block's adapter state, that a site
// guard is in place (a site-level portcullis or portcullis_guard).
const guardedState = "portcullis.guarded"

// parseHandlerRoutes sets up the `portcullis` directive: the handler
// under its matcher and, when it has one, a strict Guard for the rest of
// the site, so the matcher cannot be skipped with a path the upstream
// reads differently (`/orders;x=1/1` against `portcullis /orders/*`).
// The guard ignores the handler's allow_ambiguous_paths and
// allow_method_override: those apply where the handler runs (it runs
// first and the guard then lets the request pass).
//
// A `portcullis` inside a `handle` or `route` block cannot add a guard
// for the site, whose other blocks may reach the same upstream: it is an
// error unless a site-level `portcullis` or `portcullis_guard` comes
// first.
func parseHandlerRoutes(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	nested := isNested(h)
	if nested && h.State[guardedState] == nil {
		return nil, h.Errf("portcullis inside a handle or route block leaves the site's other blocks unchecked: " +
			"a path such as /orders;x=1/1 skips this block and can reach the same upstream. Put `portcullis_guard` at the top " +
			"of the site block, or use the portcullis directive at the site level")
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	val, err := parseHandler(h)
	if err != nil {
		return nil, err
	}
	hd := val.(*Handler)
	routes := h.NewRoute(matcherSet, val)
	if !nested {
		h.State[guardedState] = true
	}
	if matcherSet == nil {
		return routes, nil
	}
	// Warnings for what the path matcher leaves uncovered, and a route
	// for the handler's own paths it keeps from it (paths_caddyfile.go).
	routes = append(routes, pathRoutes(h, matcherSet, hd)...)
	g := &Guard{IdentityHeaders: hd.IdentityHeaders}
	if hd.Assertion != nil {
		g.AssertionHeader = hd.Assertion.Header
	}
	return append(routes, h.NewRoute(nil, g)...), nil
}

// parseGuard sets up the `portcullis_guard` directive. Syntax:
//
//	portcullis_guard {
//		allow_ambiguous_paths
//		allow_method_override
//	}
func parseGuard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Guard)
	if err := g.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if !isNested(h) {
		h.State[guardedState] = true
	}
	return g, nil
}

// UnmarshalCaddyfile reads the portcullis_guard directive into g.
func (g *Guard) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "allow_ambiguous_paths":
			g.AllowAmbiguousPaths = true
		case "allow_method_override":
			g.AllowMethodOverride = true
		default:
			return d.Errf("unrecognized portcullis_guard subdirective %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// isNested reports whether the directive sits inside a block (handle,
// route …) rather than at the site level. At the site level the adapter
// gives a directive one map as both its State and BlockState; nested
// blocks get a copy of BlockState, so a key written there does not show
// in State.
func isNested(h httpcaddyfile.Helper) bool {
	const probe = "portcullis.nesting_probe"
	h.BlockState[probe] = true
	_, site := h.State[probe]
	delete(h.BlockState, probe)
	return !site
}
