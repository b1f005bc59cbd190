package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// A route that accepts JWTs names the issuers whose tokens it takes, as
// soon as the app trusts more than one: a token from any trusted issuer
// must not open every route (a partner's token, a route meant for
// staff). The choice is checked where the Caddyfile line is known
// (handler_caddyfile.go, through declared) and again in Provision for
// JSON, where the route is named by its `route` name or its rules.

// compileIssuers resolves the route's `issuers` against app and refuses
// a route that accepts JWTs without naming issuers when app trusts
// several. It runs after accept is parsed.
func (h *Handler) compileIssuers(app *App) error {
	acceptsJWT := slices.Contains(h.accept, principal.MethodJWT)
	if len(h.Issuers) > 0 {
		if !acceptsJWT {
			return fmt.Errorf("%s: issuers is set but the route does not accept jwt; add jwt to accept or remove issuers", h.describe())
		}
		var err error
		if h.issuers, err = app.resolveIssuers(h.Issuers); err != nil {
			return fmt.Errorf("%s: %w", h.describe(), err)
		}
		return nil
	}
	if acceptsJWT && len(app.JWT) > 1 {
		return fmt.Errorf("%s: %w", h.describe(), ambiguousIssuers(app.JWT))
	}
	return nil
}

// ambiguousIssuers is the error for a route that accepts JWTs from
// every one of several issuers without saying so.
func ambiguousIssuers(jwt []JWTIssuerConfig) error {
	names := make([]string, len(jwt))
	for i, j := range jwt {
		names[i] = j.Issuer
		if j.Name != "" {
			names[i] = j.Name + " (" + j.Issuer + ")"
		}
	}
	example := jwt[0].Issuer
	if jwt[0].Name != "" {
		example = jwt[0].Name
	}
	return fmt.Errorf("the route accepts JWTs and %d jwt issuers are trusted (%s): add `issuers <name or issuer URL…>` with the ones it accepts, e.g. `issuers %s` (JSON: \"issuers\"), or leave jwt out of accept",
		len(jwt), strings.Join(names, ", "), example)
}

// describe names the route in a configuration error: by its `route`
// name, else by what it protects, for JSON configurations where the
// matcher is not known here.
func (h *Handler) describe() string {
	switch {
	case h.Route != "":
		return fmt.Sprintf("portcullis route %q", h.Route)
	case h.Resource != "":
		return fmt.Sprintf("portcullis route for resource %q (set `route <name>` to name it)", h.Resource)
	case len(h.Require) > 0:
		return fmt.Sprintf("portcullis route requiring %s (set `route <name>` to name it)", strings.Join(h.Require[0].Scopes, " "))
	}
	return "portcullis route (set `route <name>` to name it)"
}

// acceptsIssuer reports whether the route takes p's issuer: any for a
// principal that is not a JWT, or when the route names no issuers.
func (h *Handler) acceptsIssuer(p principal.Principal) bool {
	return p.Method != principal.MethodJWT || len(h.issuers) == 0 || slices.Contains(h.issuers, p.Issuer)
}

// checkPrincipal refuses, before any rule looks at it, a principal the
// route cannot take: one whose identity values cannot be forwarded as
// exactly themselves (principal.Validate), or a JWT from an issuer the
// route does not list. Every credential type goes through it, and so
// does a principal an earlier handler in the chain allowed.
func (h *Handler) checkPrincipal(p principal.Principal) *verdict {
	if err := p.Validate(); err != nil {
		return refuse(policy.ReasonMalformedIdentity, challenge{status: http.StatusUnauthorized, code: "invalid_token",
			description: "the credential carries an identity value that cannot be forwarded as it is (a control character, surrounding spaces, or a malformed scope)"})
	}
	if !h.acceptsIssuer(p) {
		return refuse(policy.ReasonIssuerNotAccepted, challenge{status: http.StatusUnauthorized, code: "invalid_token",
			description: "tokens from this issuer are not accepted here"})
	}
	// A principal an earlier handler allowed skipped this route's own
	// authentication: its accept list and provider pin apply here too.
	if !slices.Contains(h.accept, p.Method) {
		return refuse(policy.ReasonMethodNotAccepted, challenge{status: http.StatusUnauthorized, code: "invalid_token",
			description: "this credential type is not accepted here"})
	}
	if v := h.checkProvider(p); v != nil {
		return v
	}
	return nil
}

// checkProvider refuses a browser session from a login provider the
// route's `providers` does not list.
func (h *Handler) checkProvider(p principal.Principal) *verdict {
	if p.Method != principal.MethodSession || len(h.Providers) == 0 || slices.Contains(h.Providers, p.Provider) {
		return nil
	}
	return refuse(policy.ReasonProviderNotAccepted, challenge{status: http.StatusForbidden, code: "access_denied",
		description: "this route accepts sessions from the providers " + strings.Join(h.Providers, ", ") + " only; sign in with one of them"})
}

// checkIssuers reports, at the current Caddyfile line, an `issuers`
// entry that names no jwt issuer of the global option.
func (g *declared) checkIssuers(d *caddyfile.Dispenser, entries []string) error {
	if g == nil {
		return nil
	}
	if _, err := (&App{JWT: g.jwt}).resolveIssuers(entries); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// checkIssuerChoice reports, at the directive's line (at), a route that
// accepts JWTs while the global option trusts several issuers and the
// route names none, or that names issuers but accepts no JWTs.
func (g *declared) checkIssuerChoice(at func(error) error, h *Handler) error {
	if g == nil {
		return nil
	}
	accept, err := parseAccept(h.Accept)
	if err != nil {
		return nil // reported at its own line
	}
	acceptsJWT := slices.Contains(accept, principal.MethodJWT)
	switch {
	case len(h.Issuers) > 0 && !acceptsJWT:
		return at(errors.New("portcullis: issuers is set but the route does not accept jwt; add jwt to accept or remove issuers"))
	case len(h.Issuers) == 0 && acceptsJWT && len(g.jwt) > 1:
		return at(fmt.Errorf("portcullis: %w", ambiguousIssuers(g.jwt)))
	}
	return nil
}
