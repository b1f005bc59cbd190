package caddymodule

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("portcullis", parseGlobalOption)
}

// parseGlobalOption sets up the portcullis app from the global option
// block. Syntax:
//
//	portcullis {
//		store memory | <redis-url> [{ … }]
//		session { keys <key…>; cookie_name; idle_timeout; absolute_timeout; same_site; insecure_cookie;
//		          domain <domain>; return_hosts <host…>; remember_me <d>; remember_me_idle <d>; pages <dir> }
//		oidc [<name>] <issuer> { client_id; client_secret; redirect_url; scopes <scope…>; post_logout_redirect_url;
//		                label <text>; email_domains <domain…>;
//		                groups_claims <claim…>; userinfo on|off; prompt <value…>; claims <json>;
//		                auth_param <name> <value>; login_hint passthrough; clock_skew <d>; revoke_on_logout on|off }
//		jwt <issuer> { name <short-name>; jwks_uri; audience <aud…>; algorithms <alg…>; clock_skew }
//		api_keys { prefix; pepper; header; key <id> { hash; subject; name; scopes; expires; rate_limit <rate> [burst <n>] } }
//		scope <name> implies <scope…>
//		known_scopes <scope…>
//		grant <scope…> to groups <group…> | grant <scope…> to claim <claim> <value…>
//		mfa { required_for groups <group…> | claim <claim> <value…>; methods <amr…>; acr <class…>; grace <d> }
//		identity_groups mentioned [<group…>] | identity_groups <group…>
//		rate_limit <name> <count>/<period> [burst <n>] [key <template>] [on_error allow|deny]
//		failures { limit <count>/<period>; lockout <d>; progressive [max <d>]; shared }
//		assertion { key <pem…>; issuer <url>; ttl <duration> }
//		resource <uri> { authorization_servers …; scopes_supported …; name; documentation; audience_aliases … }
//		upstream_oauth <name> { client_id; client_secret; authorization_endpoint; token_endpoint; revocation_endpoint;
//		                        scopes <scope…>; auth_param <name> <value>; pkce on|off; client_auth basic|post; label; issuer; redirect_url }
//		authorization_server { issuer <url>; signing_key <pem…>; access_token_lifetime; refresh_token_lifetime;
//		                       consent_lifetime; dynamic_registration on|off; client_metadata_documents on|off }
//		endpoint_prefix /.portcullis/
//		alert webhook <url> { events <name…>; secret <secret>; source <uri>; batch_size <n>; flush_interval <d>;
//		                      queue_size <n>; max_retries <n>; timeout <d>; shutdown_timeout <d> }
//	}
//
// Each block is checked as it is read, so errors carry the file and line.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("portcullis: the global option is given twice; merge them into one block")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "portcullis", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the global option block into a, keeping each
// mistake (at its line) and going on at the next subdirective.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume option name
	var errs mistakes
	if d.NextArg() {
		errs.add(d.ArgErr())
		for d.NextArg() {
		}
	}
	p := appParse{scopes: map[string][]string{}, zones: map[string]bool{}, issuers: map[string]bool{}}
	errs.add(readBlock(d, 0, func() error { return a.unmarshalOption(d, &p) }))
	if (a.OIDC != nil || len(a.OIDCProviders) > 0) && a.Session == nil {
		errs.add(p.oidcAt(errors.New("oidc: browser login needs a session block with keys")))
	}
	insecure := a.Session != nil && a.Session.InsecureCookie
	for _, l := range p.oidcLines {
		if err := l.cfg.checkRedirects(insecure); err != nil {
			errs.add(l.at(err))
		}
	}
	if a.Session != nil && a.Session.Domain != "" {
		if cfgs, err := a.oidcConfigs(); err == nil {
			if err := checkDomainProviders(a.Session.Domain, cfgs); err != nil {
				errs.add(p.oidcAt(err))
			}
		}
	}
	errs.add(a.checkGrants(p.grantsAt))
	errs.add(a.checkAuthServer(nil))
	return errs.err()
}

// appParse is what reading the global option remembers across its
// subdirectives, for the checks that span several of them.
type appParse struct {
	oidcAt    func(error) error
	oidcLines []oidcLine
	scopes    map[string][]string
	zones     map[string]bool
	issuers   map[string]bool
	// grantsAt report a mistake at the line of each grant, in order.
	grantsAt []func(error) error
}

// oidcLine is an oidc block and its place in the Caddyfile.
type oidcLine struct {
	cfg *OIDCConfig
	at  func(error) error
}

// unmarshalOption reads one subdirective of the global option.
func (a *App) unmarshalOption(d *caddyfile.Dispenser, p *appParse) error {
	switch d.Val() {
	case "store":
		if a.Store != nil {
			return d.Err("store is given twice")
		}
		a.Store = new(StoreConfig)
		return a.Store.unmarshal(d)
	case "session":
		if a.Session != nil {
			return d.Err("session is given twice")
		}
		a.Session = new(SessionConfig)
		return a.Session.unmarshal(d)
	case "oidc":
		oc := new(OIDCConfig)
		at := errAtStart(d)
		if err := oc.unmarshal(d); err != nil {
			return err
		}
		if p.oidcAt == nil {
			p.oidcAt = at
		}
		p.oidcLines = append(p.oidcLines, oidcLine{oc, at})
		switch {
		case oc.Name == "" && (a.OIDC != nil || len(a.OIDCProviders) > 0),
			oc.Name != "" && a.OIDC != nil:
			return at(errors.New("oidc: with several providers, name each one: `oidc <name> <issuer> { … }`"))
		case oc.Name == "":
			a.OIDC = oc
		default:
			for _, other := range a.OIDCProviders {
				if other.Name == oc.Name {
					return at(fmt.Errorf("oidc: provider name %q is given twice", oc.Name))
				}
			}
			a.OIDCProviders = append(a.OIDCProviders, oc)
		}
		return nil
	case "jwt":
		var j JWTIssuerConfig
		at := errAtStart(d)
		if err := j.unmarshal(d); err != nil {
			return err
		}
		if p.issuers[j.Issuer] {
			return at(fmt.Errorf("jwt issuer %s is declared twice", j.Issuer))
		}
		p.issuers[j.Issuer] = true
		if j.Name != "" { // names and URLs cannot collide: names have no ':'
			if p.issuers[j.Name] {
				return at(fmt.Errorf("jwt issuer name %s is used twice", j.Name))
			}
			p.issuers[j.Name] = true
		}
		a.JWT = append(a.JWT, j)
	case "api_keys":
		if a.APIKeys != nil {
			return d.Err("api_keys is given twice")
		}
		a.APIKeys = new(APIKeysConfig)
		return a.APIKeys.unmarshal(d)
	case "scope":
		var s ScopeConfig
		at := errAtStart(d)
		if err := s.unmarshal(d); err != nil {
			return err
		}
		if _, dup := p.scopes[s.Name]; dup {
			return d.Errf("scope %s is declared twice; list everything it implies in one line", s.Name)
		}
		p.scopes[s.Name] = s.Implies
		if _, err := policy.NewImplications(p.scopes); err != nil {
			// Left out, so the lines after it are checked without it.
			delete(p.scopes, s.Name)
			return at(err)
		}
		a.Scopes = append(a.Scopes, s)
	case "grant":
		return a.unmarshalGrant(d, p)
	case "known_scopes":
		return a.unmarshalKnownScopes(d)
	case "identity_groups":
		return a.unmarshalIdentityGroups(d)
	case "mfa":
		if a.MFA != nil {
			return d.Err("mfa is given twice")
		}
		a.MFA = new(MFAConfig)
		return a.MFA.unmarshal(d)
	case "rate_limit":
		var z RateLimitZoneConfig
		if err := z.unmarshal(d); err != nil {
			return err
		}
		if p.zones[z.Name] {
			return d.Errf("rate_limit zone %s is declared twice", z.Name)
		}
		p.zones[z.Name] = true
		a.RateLimits = append(a.RateLimits, z)
	case "failures":
		if a.Failures != nil {
			return d.Err("failures is given twice")
		}
		a.Failures = new(FailuresConfig)
		return a.Failures.unmarshal(d) // failures_caddyfile.go
	case "resource":
		var rc ResourceConfig
		if err := rc.unmarshal(d); err != nil {
			return err
		}
		for _, other := range a.Resources {
			if other.URI == rc.URI {
				return d.Errf("resource %s is declared twice", rc.URI)
			}
		}
		a.Resources = append(a.Resources, rc)
	case "authorization_server":
		if a.AuthorizationServer != nil {
			return d.Err("authorization_server is given twice")
		}
		a.AuthorizationServer = new(AuthorizationServerConfig)
		return a.AuthorizationServer.unmarshal(d)
	case "assertion":
		if a.Assertion != nil {
			return d.Err("assertion is given twice")
		}
		a.Assertion = new(AssertionConfig)
		return a.Assertion.unmarshal(d)
	case "upstream_oauth":
		return a.unmarshalUpstreamOAuth(d)
	case "alert":
		return a.unmarshalAlert(d)
	case "endpoint_prefix":
		if err := stringArg(d, &a.EndpointPrefix); err != nil {
			return err
		}
		if err := checkEndpointPrefix(a.EndpointPrefix); err != nil {
			return d.Err(err.Error())
		}
	default:
		return d.Errf("unrecognized portcullis option %q", d.Val())
	}
	return nil
}

// unmarshal reads `rate_limit <name> <rate> [burst <n>] [key <template>]`.
func (z *RateLimitZoneConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if !d.Args(&z.Name, &z.Rate) {
		return d.Err("rate_limit needs a zone name and a rate, e.g. `rate_limit per_user 100/1m burst 20`")
	}
	for d.NextArg() {
		switch d.Val() {
		case "burst":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			z.Burst = n
		case "key":
			if !d.NextArg() {
				return d.ArgErr()
			}
			z.Key = d.Val()
		case "on_error":
			if !d.NextArg() {
				return d.ArgErr()
			}
			z.OnError = d.Val()
		default:
			return d.Errf("rate_limit %s: unrecognized argument %q (want burst, key or on_error)", z.Name, d.Val())
		}
	}
	if _, err := z.zone(); err != nil {
		return at(err)
	}
	return nil
}

// unmarshal reads `scope <name> implies <scope…>`.
func (s *ScopeConfig) unmarshal(d *caddyfile.Dispenser) error {
	var implies string
	if !d.Args(&s.Name, &implies) || implies != "implies" {
		return d.Err("scope needs the form `scope <name> implies <scope> [<scope>…]`")
	}
	s.Implies = d.RemainingArgs()
	if len(s.Implies) == 0 {
		return d.Errf("scope %s implies nothing", s.Name)
	}
	return nil
}

// intArg reads the next argument as a non-negative integer.
func intArg(d *caddyfile.Dispenser) (int, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n < 0 {
		return 0, d.Errf("%q is not a non-negative integer", d.Val())
	}
	return n, nil
}

// durationArg reads the next argument as a duration.
func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v, err := caddy.ParseDuration(d.Val())
	if err != nil || v < 0 {
		return 0, d.Errf("%q is not a duration like 30s or 1h", d.Val())
	}
	return caddy.Duration(v), nil
}

// stringArg reads exactly one argument into dst.
func stringArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}
