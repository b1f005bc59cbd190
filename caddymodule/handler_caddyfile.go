package caddymodule

import (
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

func init() {
	httpcaddyfile.RegisterDirective("portcullis", parseHandlerRoutes)
	// Authentication runs after request rewriting and basic_auth but
	// before anything that answers or proxies, so users never need an
	// `order` line.
	httpcaddyfile.RegisterDirectiveOrder("portcullis", httpcaddyfile.After, "basic_auth")
}

// parseHandler sets up the handler from Caddyfile tokens. Syntax:
//
//	portcullis [<matcher>] {
//		accept api_key|jwt|session …
//		issuers <jwt issuer name or URL…>
//		providers <oidc provider name…>
//		allow_ambiguous_paths
//		allow_method_override
//		require <scope…> [methods <METHOD…>]
//		rate_limit <zone…>
//		realm <realm>
//		require any <scope…> [methods <METHOD…>]
//		require <scope…> tool <glob…> | mcp_method <method…>
//		require … when groups <group…> | when claim <claim> <value…>   (`when` ends the line)
//		resource <uri>
//		allowed_origins <origin…>
//		max_age <duration> [when <condition>]
//		acr <value…> [when <condition>]
//		mfa [off | when <condition>]
//		require_claim <claim> <value…>
//		allow_anonymous <path…>
//		identity_headers { subject|email|name|groups|scopes|method|key_id|issuer|provider <Header-Name>; omit <field…> }
//		assertion <audience> [header <Header-Name>]
//		forward_authorization
//		inject <upstream_oauth name> [header <Header-Name>] [format "Bearer {token}"]
//		max_credential_length <bytes>
//		route <name>
//		rate_limit_headers on|off
//		audit_allowed all|off|<fraction>
//	}
//
// Every mistake in the block is reported, each at its line. What a route
// names in the portcullis global option (rate-limit zones, a resource,
// assertion keys) must be declared there; that is checked here, with the
// line, and again in Provision and Validate for JSON.
func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g, err := declaredIn(h)
	if err != nil {
		return nil, err
	}
	var hd Handler
	if err := hd.unmarshal(h.Dispenser, g); err != nil {
		return nil, err
	}
	if err := hd.checkMFADeclared(h); err != nil {
		return nil, err
	}
	if err := hd.checkInjectDeclared(h); err != nil {
		return nil, err
	}
	return &hd, nil
}

// UnmarshalCaddyfile reads the directive into h. What it names in the
// portcullis app is checked in Provision and Validate.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return h.unmarshal(d, nil)
}

// unmarshal reads the directive, keeping each mistake and going on at
// the next subdirective; g, when not nil, is what the global option
// declares.
func (h *Handler) unmarshal(d *caddyfile.Dispenser, g *declared) error {
	d.Next() // consume directive name
	at := errAtStart(d)
	var errs mistakes
	if d.NextArg() {
		errs.add(d.ArgErr())
		for d.NextArg() {
		}
	}
	errs.add(readBlock(d, 0, func() error { return h.unmarshalLine(d, g) }))
	errs.add(g.checkIssuerChoice(at, h))
	return errs.err()
}

// unmarshalLine reads one subdirective.
func (h *Handler) unmarshalLine(d *caddyfile.Dispenser, g *declared) error {
	var err error
	switch d.Val() {
	case "allow_ambiguous_paths":
		h.AllowAmbiguousPaths = true
	case "allow_method_override":
		h.AllowMethodOverride = true
	case "accept":
		h.Accept = d.RemainingArgs()
		if len(h.Accept) == 0 {
			return d.ArgErr()
		}
		if _, err := parseAccept(h.Accept); err != nil {
			return d.Err(err.Error())
		}
	case "issuers":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.Err("issuers needs the name or URL of at least one jwt issuer, e.g. `issuers main`")
		}
		h.Issuers = append(h.Issuers, args...)
		if err := g.checkIssuers(d, args); err != nil {
			return err
		}
	case "providers":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.Err("providers needs the name of at least one oidc provider, e.g. `providers staff`")
		}
		h.Providers = append(h.Providers, args...)
		if err := g.checkProviders(d, args); err != nil {
			return err
		}
	case "require":
		var rc RequireConfig
		if err := rc.unmarshal(d); err != nil {
			return err
		}
		h.Require = append(h.Require, rc)
	case "rate_limit":
		zones := d.RemainingArgs()
		if len(zones) == 0 {
			return d.ArgErr()
		}
		if err := g.checkZones(d, zones); err != nil {
			return err
		}
		h.RateLimits = append(h.RateLimits, zones...)
	case "realm":
		err = stringArg(d, &h.Realm)
	case "require_claim":
		args := d.RemainingArgs()
		if len(args) < 2 {
			return d.Err("require_claim needs a claim and at least one value, e.g. `require_claim groups admins`")
		}
		if err := (policy.ClaimRequirement{Claim: args[0], Values: args[1:]}).Validate(); err != nil {
			return d.Err(err.Error())
		}
		h.RequireClaims = append(h.RequireClaims, ClaimConfig{Claim: args[0], Values: args[1:]})
	case "allow_anonymous":
		h.AllowAnonymous = append(h.AllowAnonymous, d.RemainingArgs()...)
		if len(h.AllowAnonymous) == 0 {
			return d.ArgErr()
		}
	case "assertion":
		a := AssertionRoute{}
		if !d.NextArg() {
			return d.Err("assertion needs the audience, e.g. `assertion orders-api`")
		}
		a.Audience = d.Val()
		if d.NextArg() {
			if d.Val() != "header" || !d.NextArg() {
				return d.Err("assertion: want `assertion <audience> [header <Header-Name>]`")
			}
			a.Header = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		if a.Header != "" {
			if err := validHeaderName(a.Header); err != nil {
				return d.Errf("assertion: %v", err)
			}
		}
		if err := g.checkAssertion(d); err != nil {
			return err
		}
		h.Assertion = &a
	case "resource":
		if err = stringArg(d, &h.Resource); err == nil {
			err = g.checkResource(d, h.Resource)
		}
	case "max_age", "acr":
		err = h.unmarshalStepUp(d)
	case "mfa":
		err = h.unmarshalMFA(d)
	case "allowed_origins":
		h.AllowedOrigins = append(h.AllowedOrigins, d.RemainingArgs()...)
		if len(h.AllowedOrigins) == 0 {
			return d.ArgErr()
		}
	case "forward_authorization":
		h.ForwardAuthorization = true
	case "inject":
		err = h.unmarshalInject(d)
	case "identity_headers":
		if err := h.unmarshalIdentityHeaders(d); err != nil {
			return err
		}
	case "max_credential_length":
		h.MaxCredentialLength, err = intArg(d)
	case "route":
		err = stringArg(d, &h.Route)
	case "rate_limit_headers":
		var v string
		if err = stringArg(d, &v); err == nil {
			if v != "on" && v != "off" {
				return d.Errf("rate_limit_headers %q must be on or off", v)
			}
			on := v == "on"
			h.RateLimitHeaders = &on
		}
	case "audit_allowed":
		err = h.unmarshalAuditAllowed(d)
	default:
		return d.Errf("unrecognized portcullis subdirective %q", d.Val())
	}
	return err
}

// unmarshalAuditAllowed reads `audit_allowed all|off|<fraction>`.
func (h *Handler) unmarshalAuditAllowed(d *caddyfile.Dispenser) error {
	var v string
	if err := stringArg(d, &v); err != nil {
		return err
	}
	var f float64
	switch v {
	case "all":
		f = 1
	case "off":
		f = 0
	default:
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil || f < 0 || f > 1 {
			return d.Errf("audit_allowed %q must be all, off, or a fraction between 0 and 1", v)
		}
	}
	h.AuditAllowed = &f
	return nil
}

// unmarshalIdentityHeaders reads an `identity_headers { … }` block.
func (h *Handler) unmarshalIdentityHeaders(d *caddyfile.Dispenser) error {
	ih := IdentityHeaders{}
	err := readBlock(d, 1, func() error {
		if d.Val() == "omit" {
			if !d.NextArg() {
				return d.ArgErr()
			}
			for ok := true; ok; ok = d.NextArg() {
				i, err := omitIndex(d.Val())
				if err != nil {
					return d.Err(err.Error())
				}
				if given := ih.names()[i]; given != "" {
					return d.Errf("identity_headers: %s is both named (%s) and omitted", d.Val(), given)
				}
				ih.Omit = append(ih.Omit, d.Val())
			}
			return nil
		}
		i := slices.Index(identityFields[:], d.Val())
		if i < 0 {
			return d.Errf("unrecognized identity_headers field %q", d.Val())
		}
		if slices.Contains(ih.Omit, d.Val()) {
			return d.Errf("identity_headers: %s is both named and omitted", d.Val())
		}
		dst := ih.fields()[i]
		if err := stringArg(d, dst); err != nil {
			return err
		}
		if err := validHeaderName(*dst); err != nil {
			return d.Err(err.Error())
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What only the whole block can show (a name used twice) is reported
	// at its end, once each of its lines reads.
	if _, err := ih.withDefaults(); err != nil {
		return d.Err(err.Error())
	}
	h.IdentityHeaders = &ih
	return nil
}

// unmarshal reads `require [any] <scope…> [methods <METHOD…>]
// [tool <glob…>] [mcp_method <method…>] [when <condition>]`.
func (rc *RequireConfig) unmarshal(d *caddyfile.Dispenser) error {
	var dst *[]string // the qualifier list being read, nil while reading scopes
	first := true
	for d.NextArg() {
		v := d.Val()
		if first && v == "any" {
			rc.Any, first = true, false
			continue
		}
		first = false
		switch v {
		case "methods":
			dst = &rc.Methods
			continue
		case "tool", "tools":
			dst = &rc.Tools
			continue
		case "mcp_method", "mcp_methods":
			dst = &rc.MCPMethods
			continue
		case "when":
			c, err := conditionArgs(d, d.RemainingArgs())
			if err != nil {
				return err
			}
			rc.When = &c
			continue
		}
		if dst == nil {
			if err := policy.ValidateScope(v); err != nil {
				return d.Err(err.Error())
			}
			rc.Scopes = append(rc.Scopes, v)
			continue
		}
		if dst == &rc.Methods {
			v = strings.ToUpper(v)
		}
		*dst = append(*dst, v)
	}
	if len(rc.Scopes) == 0 {
		return d.Err("require needs at least one scope, e.g. `require orders:read`")
	}
	if dst != nil && len(*dst) == 0 {
		return d.Err("require: a qualifier (methods, tool, mcp_method) needs at least one value")
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
