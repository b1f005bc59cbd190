package caddymodule

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

// The Caddyfile grammar of authorization (see README, "Scopes from
// groups, conditional rules and MFA"). In the global option:
//
//	grant <scope…> to groups <group…>
//	grant <scope…> to claim <claim> <value…>
//	known_scopes <scope…>
//	identity_groups mentioned [<group…>] | identity_groups <group…>
//	mfa { required_for <condition>; methods <amr…>; acr <class…>; grace <duration> }
//
// In a route, a condition ends a line with `when`:
//
//	require <scope…> [methods …] [tool …] [mcp_method …] when <condition>
//	max_age <duration> when <condition>
//	acr <class…> when <condition>
//	mfa [off | when <condition>]
//
// where <condition> is `groups <group…>` or `claim <claim> <value…>`.

// conditionArgs reads a condition from args (what follows `to`, `when`
// or `required_for`), checking it at the current line.
func conditionArgs(d *caddyfile.Dispenser, args []string) (ConditionConfig, error) {
	var c ConditionConfig
	if len(args) == 0 {
		return c, d.Err("a condition is missing: want `groups <group…>` or `claim <claim> <value…>`")
	}
	switch args[0] {
	case "groups", "group":
		if len(args) < 2 {
			return c, d.Err("groups needs at least one group name")
		}
		c.Groups = args[1:]
	case "claim":
		if len(args) < 3 {
			return c, d.Err("claim needs a claim and at least one value, e.g. `claim email_verified true`")
		}
		c.Claim, c.Values = args[1], args[2:]
	default:
		return c, d.Errf("unknown condition %q: want `groups <group…>` or `claim <claim> <value…>`", args[0])
	}
	if _, err := c.compile(); err != nil {
		return c, d.Err(err.Error())
	}
	return c, nil
}

// splitWhen splits a line's arguments at `when`: what comes before, and
// the condition after it (nil without `when`).
func splitWhen(d *caddyfile.Dispenser, args []string) ([]string, *ConditionConfig, error) {
	i := slices.Index(args, "when")
	if i < 0 {
		return args, nil, nil
	}
	c, err := conditionArgs(d, args[i+1:])
	if err != nil {
		return nil, nil, err
	}
	return args[:i], &c, nil
}

// unmarshalGrant reads `grant <scope…> to <condition>`. Whether its
// scopes are declared is checked once the whole option is read
// (checkGrants), at this line.
func (a *App) unmarshalGrant(d *caddyfile.Dispenser, p *appParse) error {
	args := d.RemainingArgs()
	i := slices.Index(args, "to")
	if i < 1 {
		return d.Err("grant needs the form `grant <scope…> to groups <group…>` or `grant <scope…> to claim <claim> <value…>`")
	}
	g := GrantConfig{Scopes: args[:i]}
	for _, s := range g.Scopes {
		if err := policy.ValidateScope(s); err != nil {
			return d.Err(err.Error())
		}
	}
	to, err := conditionArgs(d, args[i+1:])
	if err != nil {
		return err
	}
	g.To = to
	a.Grants = append(a.Grants, g)
	p.grantsAt = append(p.grantsAt, errAtStart(d))
	return nil
}

// checkGrants reports, each at its line, a grant of a scope the option
// does not declare (anywhere in it, before or after the grant).
func (a *App) checkGrants(at []func(error) error) error {
	var errs mistakes
	declared := a.declaredScopes()
	for i, g := range a.Grants {
		if _, err := g.compile(declared); err != nil && i < len(at) {
			errs.add(at[i](err))
		}
	}
	return errs.err()
}

// unmarshalKnownScopes reads `known_scopes <scope…>`.
func (a *App) unmarshalKnownScopes(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Err("known_scopes needs at least one scope")
	}
	for _, s := range args {
		if err := policy.ValidateScope(s); err != nil {
			return d.Err(err.Error())
		}
	}
	a.KnownScopes = append(a.KnownScopes, args...)
	return nil
}

// unmarshalIdentityGroups reads `identity_groups mentioned [<group…>]`
// or `identity_groups <group…>`.
func (a *App) unmarshalIdentityGroups(d *caddyfile.Dispenser) error {
	if a.IdentityGroups != nil {
		return d.Err("identity_groups is given twice")
	}
	args := d.RemainingArgs()
	ig := &IdentityGroupsConfig{}
	if len(args) > 0 && args[0] == "mentioned" {
		ig.Mentioned, args = true, args[1:]
	}
	ig.Groups = args
	if !ig.Mentioned && len(ig.Groups) == 0 {
		return d.Err("identity_groups needs `mentioned`, a list of groups, or both")
	}
	a.IdentityGroups = ig
	return nil
}

// unmarshal reads an `mfa { … }` block of the global option, keeping
// each mistake; what only the whole block can show (nothing says what a
// second factor is) is reported at its first line.
func (m *MFAConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if d.NextArg() {
		return d.Err("mfa takes a block: mfa { required_for groups …; methods …; acr …; grace … }")
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "required_for":
			c, err := conditionArgs(d, d.RemainingArgs())
			if err != nil {
				return err
			}
			m.RequiredFor = append(m.RequiredFor, c)
		case "methods":
			m.Methods = append(m.Methods, d.RemainingArgs()...)
			if len(m.Methods) == 0 {
				return d.ArgErr()
			}
		case "acr":
			m.ACR = append(m.ACR, d.RemainingArgs()...)
			if len(m.ACR) == 0 {
				return d.ArgErr()
			}
		case "grace":
			m.Grace, err = durationArg(d)
			if err == nil && d.NextArg() {
				err = d.ArgErr()
			}
		default:
			return d.Errf("unrecognized mfa subdirective %q (want required_for, methods, acr or grace)", d.Val())
		}
		return err
	})
	var errs mistakes
	errs.add(err)
	if _, err := m.compile(); err != nil {
		errs.add(at(err))
	}
	return errs.err()
}

// unmarshalStepUp reads `max_age <duration> [when <condition>]` or
// `acr <class…> [when <condition>]`: without a condition into MaxAge or
// ACR, with one into StepUp.
func (h *Handler) unmarshalStepUp(d *caddyfile.Dispenser) error {
	kind := d.Val()
	args, when, err := splitWhen(d, d.RemainingArgs())
	if err != nil {
		return err
	}
	var s StepUpConfig
	switch kind {
	case "max_age":
		if len(args) != 1 {
			return d.ArgErr()
		}
		v, err := caddy.ParseDuration(args[0])
		if err != nil || v < 0 {
			return d.Errf("%q is not a duration like 30s or 1h", args[0])
		}
		s.MaxAge = caddy.Duration(v)
	default:
		if len(args) == 0 {
			return d.ArgErr()
		}
		s.ACR = args
	}
	switch {
	case when != nil:
		s.When = when
		h.StepUp = append(h.StepUp, s)
	case kind == "max_age":
		h.MaxAge = s.MaxAge
	default:
		h.ACR = s.ACR
	}
	return nil
}

// unmarshalMFA reads a route's `mfa`, `mfa off` or `mfa when <condition>`.
func (h *Handler) unmarshalMFA(d *caddyfile.Dispenser) error {
	if h.MFA != nil {
		return d.Err("mfa is given twice")
	}
	args, when, err := splitWhen(d, d.RemainingArgs())
	if err != nil {
		return err
	}
	m := &RouteMFAConfig{When: when}
	switch {
	case len(args) == 1 && args[0] == "off" && when == nil:
		m.Off = true
	case len(args) > 0:
		return d.Errf("mfa: unexpected %q: want `mfa`, `mfa off` or `mfa when <condition>`", strings.Join(args, " "))
	}
	h.MFA = m
	h.authz.mfaAt = errAtStart(d)
	return nil
}

// checkMFADeclared reports, at the route's `mfa` line, a route that
// requires a second factor while the global option of the Caddyfile
// being adapted has no mfa block to say what one is.
func (h *Handler) checkMFADeclared(hl httpcaddyfile.Helper) error {
	if h.MFA == nil || h.MFA.Off || h.authz.mfaAt == nil {
		return nil
	}
	var app App
	if opt, ok := hl.Option("portcullis").(httpcaddyfile.App); ok {
		if err := json.Unmarshal(opt.Value, &app); err != nil {
			return hl.Errf("reading portcullis global option: %v", err)
		}
	}
	if app.MFA != nil {
		return nil
	}
	return h.authz.mfaAt(errors.New("mfa: the portcullis global option has no `mfa { methods … }` block that says what a second factor is"))
}
