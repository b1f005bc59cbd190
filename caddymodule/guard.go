package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

func init() {
	caddy.RegisterModule(Guard{})
}

// Guard applies the request checks of a portcullis handler to every
// request of a site, including those no portcullis route matches: a
// path some server behind could read as another one (`;` parameters,
// `\`, dot segments, encoded `/`, NUL …) is refused with 400 before
// Caddy's matchers choose a route, client copies of identity headers
// and URL- and method-override headers are removed, and hop-by-hop
// nominations are consumed.
//
// The Caddyfile adds one to a site for each `portcullis` directive that
// has a matcher, so `portcullis /orders/*` cannot be skipped with
// `/orders;x=1/1`. In JSON, add it as the first handler of a site's
// routes. A request already seen by a portcullis handler passes as is.
type Guard struct {
	// AllowAmbiguousPaths lets such paths through, for upstreams that
	// need them (then the site's matchers and the upstream may disagree).
	// Default: false.
	AllowAmbiguousPaths bool `json:"allow_ambiguous_paths,omitempty"`
	// AllowMethodOverride keeps method-override headers
	// (X-HTTP-Method-Override …) on POST requests. Default: false.
	AllowMethodOverride bool `json:"allow_method_override,omitempty"`
	// IdentityHeaders names the identity headers whose client copies are
	// removed. Default: the `X-Auth-*` names.
	IdentityHeaders *IdentityHeaders `json:"identity_headers,omitempty"`
	// AssertionHeader is a further header whose client copies are
	// removed (the route's signed assertion). Default: none.
	AssertionHeader string `json:"assertion_header,omitempty"`

	hygiene hygiene
	app     *App // nil when the portcullis app is not configured
}

// CaddyModule returns the Caddy module information.
func (Guard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.portcullis_guard",
		New: func() caddy.Module { return new(Guard) },
	}
}

// Provision compiles the header names, and loads the portcullis app
// (when configured) for audit events and metrics.
func (g *Guard) Provision(ctx caddy.Context) error {
	if v, err := ctx.AppIfConfigured("portcullis"); err == nil {
		g.app = v.(*App)
	}
	ih := IdentityHeaders{}
	if g.IdentityHeaders != nil {
		ih = *g.IdentityHeaders
	}
	ih, err := ih.withDefaults()
	if err != nil {
		return err
	}
	s := identityNames(ih)
	if g.AssertionHeader != "" {
		s = s.With(g.AssertionHeader)
	}
	g.hygiene = newHygiene(s, g.AllowAmbiguousPaths, g.AllowMethodOverride, "")
	return nil
}

// ServeHTTP refuses an ambiguous request or cleans it and calls next.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if _, seen := caddyhttp.GetVar(r.Context(), hygieneVar).(bool); seen {
		return next.ServeHTTP(w, r)
	}
	if _, err := g.hygiene.apply(r); err != nil {
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		rid := requestIDFor(r, repl)
		w.Header().Set(requestIDHeader, rid)
		if g.app != nil {
			ev := requestEvent(r, audit.KindDecision, rid, "")
			ev.Result, ev.Reason = audit.Deny, string(policy.ReasonMalformedRequest)
			g.app.metrics.decisions.WithLabelValues(string(ev.Result), ev.Reason, "none").Inc()
			g.app.emit(ev, audit.AllowAll)
		}
		writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", err.Error())
		return nil
	}
	caddyhttp.SetVar(r.Context(), hygieneVar, true)
	return next.ServeHTTP(w, r)
}

// hygieneVar marks a request whose checks already ran, so a guard and
// the portcullis handlers of one request do them once.
const hygieneVar = "portcullis.hygiene"

// Interface guards
var (
	_ caddy.Provisioner           = (*Guard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Guard)(nil)
)
