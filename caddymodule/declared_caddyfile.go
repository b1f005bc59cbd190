package caddymodule

import (
	"encoding/json"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// declared is what the portcullis global option declares, as seen by a
// `portcullis` directive. Caddy reads the global options before any
// site block, so a route that names an undeclared zone or resource is
// reported at its own line, where Provision (which sees JSON only)
// could not say where. A nil *declared checks nothing (the handler read
// through UnmarshalCaddyfile, outside a Caddyfile adaptation).
type declared struct {
	zones          map[string]bool
	resources      map[string]bool
	assertion      bool
	endpointPrefix string
	jwt            []JWTIssuerConfig // the trusted issuers (see issuers.go)
	providers      []string          // names of the oidc providers
}

// declaredIn reads the portcullis global option of the Caddyfile being
// adapted; without one, nothing is declared.
func declaredIn(h httpcaddyfile.Helper) (*declared, error) {
	var app App
	if opt, ok := h.Option("portcullis").(httpcaddyfile.App); ok {
		if err := json.Unmarshal(opt.Value, &app); err != nil {
			return nil, h.Errf("reading portcullis global option: %v", err)
		}
	}
	g := &declared{
		zones:          map[string]bool{},
		resources:      map[string]bool{},
		assertion:      app.Assertion != nil,
		endpointPrefix: app.EndpointPrefix,
		jwt:            app.JWT,
	}
	if cfgs, err := app.oidcConfigs(); err == nil {
		for _, c := range cfgs {
			g.providers = append(g.providers, c.Name)
		}
	}
	if g.endpointPrefix == "" {
		g.endpointPrefix = DefaultEndpointPrefix
	}
	for _, z := range app.RateLimits {
		g.zones[z.Name] = true
	}
	for _, r := range app.Resources {
		g.resources[r.URI] = true
	}
	return g, nil
}

// checkZones reports, at the current line, each zone the global option
// does not declare.
func (g *declared) checkZones(d *caddyfile.Dispenser, zones []string) error {
	if g == nil {
		return nil
	}
	var missing []string
	for _, z := range zones {
		if !g.zones[z] {
			missing = append(missing, z)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return d.Errf("rate_limit: zone %q is not declared; add `rate_limit %s <rate>` to the portcullis global option", missing[0], missing[0])
	}
	return d.Errf("rate_limit: zones %s are not declared; add a `rate_limit <zone> <rate>` line for each to the portcullis global option", strings.Join(missing, ", "))
}

// checkResource reports, at the current line, a resource the global
// option does not declare.
func (g *declared) checkResource(d *caddyfile.Dispenser, uri string) error {
	if g == nil || g.resources[uri] {
		return nil
	}
	return d.Errf("resource %q is not declared; add `resource %s { authorization_servers … }` to the portcullis global option", uri, uri)
}

// checkAssertion reports, at the current line, a route that asks for a
// signed assertion when the global option has no keys to sign it with.
func (g *declared) checkAssertion(d *caddyfile.Dispenser) error {
	if g == nil || g.assertion {
		return nil
	}
	return d.Err("assertion: the portcullis global option has no `assertion { key … }` block to sign it with")
}
