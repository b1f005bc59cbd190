package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
)

// errAtStart returns a function that reports an error at the line where
// the current block starts (its directive), in the same form as the
// dispenser's own errors, for checks that can only run once the whole
// block is read.
func errAtStart(d *caddyfile.Dispenser) func(error) error {
	file, line := d.File(), d.Line()
	return func(err error) error { return fmt.Errorf("%w, at %s:%d", err, file, line) }
}

// unmarshal reads `store memory`, `store <url> [{…}]` or `store {…}`.
func (s *StoreConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if d.NextArg() && d.Val() != "memory" {
		s.URL = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "addresses":
			s.Addresses = d.RemainingArgs()
			if len(s.Addresses) == 0 {
				return d.ArgErr()
			}
		case "cluster":
			s.Cluster = true
		case "master_name":
			err = stringArg(d, &s.MasterName)
		case "username":
			err = stringArg(d, &s.Username)
		case "password":
			err = stringArg(d, &s.Password)
		case "db":
			s.DB, err = intArg(d)
		case "tls":
			s.TLS = true
		case "tls_ca_file":
			err = stringArg(d, &s.TLSCAFile)
		case "tls_server_name":
			err = stringArg(d, &s.TLSServerName)
		case "dial_timeout":
			s.DialTimeout, err = durationArg(d)
		case "timeout":
			s.Timeout, err = durationArg(d)
		case "pool_size":
			s.PoolSize, err = intArg(d)
		default:
			return d.Errf("unrecognized store subdirective %q", d.Val())
		}
		return err
	})
	if err != nil || storeKind(s) == "memory" {
		return err
	}
	if _, err := s.redisConfig(); err != nil {
		return at(err)
	}
	return nil
}

// unmarshal reads a `session { … }` block; the timeouts are checked
// against each other at the line of the one read last.
func (s *SessionConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	var errs mistakes
	sawKeys := false
	timeoutsAt := at
	errs.add(readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "keys":
			sawKeys = true
			s.Keys = d.RemainingArgs()
			if _, err := resolveSessionKeys(s.Keys); err != nil {
				return d.Err(err.Error())
			}
		case "cookie_name":
			err = stringArg(d, &s.CookieName)
		case "idle_timeout":
			timeoutsAt = errAtStart(d)
			s.IdleTimeout, err = durationArg(d)
		case "absolute_timeout":
			timeoutsAt = errAtStart(d)
			s.AbsoluteTimeout, err = durationArg(d)
		case "same_site":
			err = stringArg(d, &s.SameSite)
			if err == nil {
				if _, cerr := s.cookieConfig(); cerr != nil {
					return d.Err(cerr.Error())
				}
			}
		case "insecure_cookie":
			s.InsecureCookie = true
		case "domain":
			if err = stringArg(d, &s.Domain); err == nil {
				if derr := checkCookieDomain(s.Domain); derr != nil {
					return d.Err(derr.Error())
				}
			}
		case "return_hosts":
			s.ReturnHosts = d.RemainingArgs()
			for _, h := range s.ReturnHosts {
				if herr := checkCookieDomain(h); herr != nil {
					return d.Errf("return_hosts: %v", herr)
				}
			}
		case "remember_me":
			timeoutsAt = errAtStart(d)
			s.RememberMe, err = durationArg(d)
		case "remember_me_idle":
			timeoutsAt = errAtStart(d)
			s.RememberMeIdle, err = durationArg(d)
		case "pages":
			err = stringArg(d, &s.Pages)
		default:
			return d.Errf("unrecognized session subdirective %q", d.Val())
		}
		return err
	}))
	if err := s.checkTimeouts(); err != nil {
		errs.add(timeoutsAt(err))
	}
	if !sawKeys {
		_, err := resolveSessionKeys(nil)
		errs.add(at(err))
	}
	return errs.err()
}

// unmarshal reads `oidc <issuer> { … }`; the block as a whole is checked
// once each of its lines reads.
func (o *OIDCConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	args := d.RemainingArgs()
	switch len(args) {
	case 1:
		o.Issuer = args[0]
	case 2:
		o.Name, o.Issuer = args[0], args[1]
		if err := checkIssuerName(o.Name); err != nil {
			return d.Errf("oidc: provider %v", err)
		}
	default:
		return d.Err("oidc takes the issuer URL, or a name and the issuer URL: `oidc https://idp.example.com { … }` or `oidc staff https://idp.example.com { … }`")
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "client_id":
			err = stringArg(d, &o.ClientID)
		case "client_secret":
			err = stringArg(d, &o.ClientSecret)
		case "redirect_url":
			err = stringArg(d, &o.RedirectURL)
		case "scopes":
			o.Scopes = d.RemainingArgs()
		case "post_logout_redirect_url":
			err = stringArg(d, &o.PostLogoutRedirectURL)
		case "groups_claims":
			o.GroupsClaims = d.RemainingArgs()
		case "label":
			err = stringArg(d, &o.Label)
		case "email_domains":
			o.EmailDomains = d.RemainingArgs()
			for _, dom := range o.EmailDomains {
				if derr := checkCookieDomain(dom); derr != nil {
					return d.Errf("email_domains: %v", derr)
				}
			}
		case "userinfo":
			var v string
			if err = stringArg(d, &v); err == nil {
				switch v {
				case "on":
					o.DisableUserInfo = false
				case "off":
					o.DisableUserInfo = true
				default:
					return d.Errf("userinfo must be on or off, not %q", v)
				}
			}
		case "revoke_on_logout":
			var v string
			if err = stringArg(d, &v); err == nil {
				switch v {
				case "on":
					o.DisableRevocation = false
				case "off":
					o.DisableRevocation = true
				default:
					return d.Errf("revoke_on_logout must be on or off, not %q", v)
				}
			}
		case "prompt":
			o.Prompt = d.RemainingArgs()
			if len(o.Prompt) == 0 {
				return d.Err("prompt needs at least one value, e.g. `prompt consent` or `prompt select_account`")
			}
			err = loginParamErr(d, oidcflow.Config{Prompt: o.Prompt})
		case "claims":
			if err = stringArg(d, &o.Claims); err == nil {
				err = loginParamErr(d, oidcflow.Config{ClaimsRequest: o.Claims})
			}
		case "auth_param":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Err("auth_param needs a name and a value, e.g. `auth_param access_type offline`")
			}
			if _, dup := o.AuthParams[args[0]]; dup {
				return d.Errf("auth_param %s is given twice", args[0])
			}
			if err = loginParamErr(d, oidcflow.Config{AuthParams: map[string]string{args[0]: args[1]}}); err != nil {
				return err
			}
			if o.AuthParams == nil {
				o.AuthParams = map[string]string{}
			}
			o.AuthParams[args[0]] = args[1]
		case "login_hint":
			var v string
			if err = stringArg(d, &v); err == nil {
				if v != "passthrough" {
					return d.Errf("login_hint takes one value, passthrough (pass ?login_hint= from the login URL to the provider), not %q", v)
				}
				o.LoginHintPassthrough = true
			}
		case "clock_skew":
			skew, serr := durationArg(d)
			o.ClockSkew, err = &skew, serr // explicit 0s means none
		default:
			return d.Errf("unrecognized oidc subdirective %q", d.Val())
		}
		return err
	})
	if err != nil {
		return err
	}
	// The redirect URLs' scheme depends on the session's insecure_cookie,
	// which may come later: checked once the global option is read.
	if err := o.check(true); err != nil {
		return at(err)
	}
	return nil
}

// loginParamErr checks one line's authorization parameters as the
// OpenID client will, reporting a mistake at that line.
func loginParamErr(d *caddyfile.Dispenser, cfg oidcflow.Config) error {
	if err := oidcflow.CheckLoginParameters(cfg); err != nil {
		return d.Errf("oidc: %s", strings.ReplaceAll(err.Error(), "oidcflow: ", ""))
	}
	return nil
}

// unmarshal reads `jwt <issuer> { … }`; the block as a whole is checked
// once each of its lines reads.
func (j *JWTIssuerConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if err := stringArg(d, &j.Issuer); err != nil {
		return err
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "jwks_uri":
			err = stringArg(d, &j.JWKSURI)
		case "name":
			if err = stringArg(d, &j.Name); err == nil {
				if nerr := checkIssuerName(j.Name); nerr != nil {
					return d.Err(nerr.Error())
				}
			}
		case "audience":
			j.Audiences = append(j.Audiences, d.RemainingArgs()...)
		case "algorithms":
			j.Algorithms = d.RemainingArgs()
		case "clock_skew":
			skew, serr := durationArg(d)
			j.ClockSkew, err = &skew, serr // explicit 0s means no skew
		case "require_at_jwt":
			j.RequireATJWT = true
		case "groups_claims":
			j.GroupsClaims = d.RemainingArgs()
		case "require_claim":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Err("require_claim needs a claim and a value, e.g. `require_claim email_verified true`")
			}
			j.RequiredClaims = append(j.RequiredClaims, ClaimConfig{Claim: args[0], Values: args[1:]})
		case "shared_secret":
			err = stringArg(d, &j.SharedSecret)
		default:
			return d.Errf("unrecognized jwt subdirective %q", d.Val())
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := j.check(); err != nil {
		return at(err)
	}
	return nil
}

// unmarshal reads an `api_keys { … }` block.
func (a *APIKeysConfig) unmarshal(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	ids := map[string]bool{}
	var keyAt []func(error) error // where each key starts, for the lifetime check
	var lifetimeAt, warnAt func(error) error
	errs := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "max_lifetime":
			lifetimeAt = errAtStart(d)
			a.MaxLifetime, err = durationArg(d)
		case "warn_before":
			warnAt = errAtStart(d)
			a.WarnBefore, err = durationArg(d)
		case "rotation_doc":
			if err = stringArg(d, &a.RotationDoc); err == nil {
				if rerr := checkRotationDoc(a.RotationDoc); rerr != nil {
					return d.Err(rerr.Error())
				}
			}
		case "prefix":
			if err = stringArg(d, &a.Prefix); err == nil {
				if _, perr := a.prefix(); perr != nil {
					return d.Err(perr.Error())
				}
			}
		case "pepper":
			if len(a.Keys) > 0 {
				return d.Err("api_keys: pepper must come before the keys it hashes")
			}
			if err = stringArg(d, &a.Pepper); err == nil {
				if _, herr := a.hasher(); herr != nil {
					return d.Err(herr.Error())
				}
			}
		case "header":
			err = stringArg(d, &a.Header)
		case "key":
			var k APIKeyConfig
			at := errAtStart(d)
			if err := k.unmarshal(d, *a); err != nil {
				return err
			}
			if ids[k.ID] {
				return d.Errf("api key %s is declared twice", k.ID)
			}
			ids[k.ID] = true
			a.Keys = append(a.Keys, k)
			keyAt = append(keyAt, at)
		default:
			return d.Errf("unrecognized api_keys subdirective %q", d.Val())
		}
		return err
	})
	// The lifetime policy may come after the keys it bounds: checked
	// once the block is read, each key at its own line.
	var m mistakes
	m.add(errs)
	if err := a.lifetime().Validate(); err != nil {
		if warnAt != nil {
			lifetimeAt = warnAt
		}
		if lifetimeAt != nil {
			m.add(lifetimeAt(fmt.Errorf("api_keys: %w", err)))
		}
	}
	for i, k := range a.Keys {
		m.add(a.checkKeyLifetime(k, time.Now(), keyAt[i]))
	}
	return m.err()
}

// unmarshal reads `key <id> { hash; subject; name; scopes; expires; rate_limit }`;
// the enclosing block's pepper selects the expected hash algorithm. The
// key as a whole is checked once each of its lines reads.
func (k *APIKeyConfig) unmarshal(d *caddyfile.Dispenser, parent APIKeysConfig) error {
	at := errAtStart(d)
	if err := stringArg(d, &k.ID); err != nil {
		return err
	}
	err := readBlock(d, 2, func() error {
		var err error
		switch d.Val() {
		case "hash":
			err = stringArg(d, &k.Hash)
		case "subject":
			err = stringArg(d, &k.Subject)
		case "name":
			err = stringArg(d, &k.Name)
		case "scopes":
			k.Scopes = d.RemainingArgs()
		case "expires":
			err = stringArg(d, &k.Expires)
		case "rate_limit":
			err = k.unmarshalRateLimit(d) // keylimit_caddyfile.go
		default:
			return d.Errf("unrecognized api key subdirective %q", d.Val())
		}
		return err
	})
	if err != nil {
		return err
	}
	h, err := parent.hasher()
	if err != nil {
		return at(err)
	}
	if _, err := k.record(h); err != nil {
		return at(err)
	}
	return nil
}
