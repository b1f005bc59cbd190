package caddymodule

import (
	"errors"
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshal reads
//
//	authorization_server {
//		issuer <url>
//		signing_key <pem…>                  # several: rotation, first signs
//		access_token_lifetime <d>
//		refresh_token_lifetime <d>
//		consent_lifetime <d>
//		dynamic_registration on|off
//		client_metadata_documents on|off
//		allow_private_client_addresses      # tests only
//	}
func (c *AuthorizationServerConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	c.at = at
	if d.NextArg() {
		return d.ArgErr()
	}
	onOff := func(dst **bool) error {
		var v string
		if err := stringArg(d, &v); err != nil {
			return err
		}
		if v != "on" && v != "off" {
			return d.Errf("%s takes on or off, not %q", d.Val(), v)
		}
		b := v == "on"
		*dst = &b
		return nil
	}
	for d.NextBlock(1) {
		var err error
		switch d.Val() {
		case "issuer":
			err = stringArg(d, &c.Issuer)
		case "signing_key":
			keys := d.RemainingArgs()
			if len(keys) == 0 {
				return d.ArgErr()
			}
			c.SigningKeys = append(c.SigningKeys, keys...)
		case "access_token_lifetime":
			c.AccessTokenLifetime, err = durationArg(d)
		case "refresh_token_lifetime":
			c.RefreshTokenLifetime, err = durationArg(d)
		case "consent_lifetime":
			c.ConsentLifetime, err = durationArg(d)
		case "dynamic_registration":
			err = onOff(&c.DynamicRegistration)
		case "client_metadata_documents":
			err = onOff(&c.ClientMetadataDocuments)
		case "allow_private_client_addresses":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.AllowPrivateClientAddresses = true
		default:
			return d.Errf("unrecognized authorization_server subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if c.Issuer == "" {
		return at(errors.New("authorization_server: issuer is required (the gateway's public URL)"))
	}
	// The checks that need only this block, at its line.
	probe := App{AuthorizationServer: c, Resources: []ResourceConfig{{URI: "https://probe.invalid/", AuthorizationServers: []string{SelfAuthorizationServer}}},
		Session: &SessionConfig{}, OIDC: &OIDCConfig{}}
	if err := probe.compileAuthServer(); err != nil {
		return at(err)
	}
	return nil
}

// checkAuthServer reports, at the authorization_server block's line
// (or the first resource's for a `self` without the block), what spans
// several blocks of the global option: a resource that names it, and
// the browser sign-in it needs.
func (a *App) checkAuthServer(resourceAt func(error) error) error {
	c := a.AuthorizationServer
	if c == nil {
		if resourceAt != nil && slices.ContainsFunc(a.Resources, func(r ResourceConfig) bool {
			return slices.Contains(r.AuthorizationServers, SelfAuthorizationServer)
		}) {
			return resourceAt(errors.New("resource: `authorization_servers self` needs an authorization_server block in the portcullis global option"))
		}
		return nil
	}
	if c.at == nil {
		return nil
	}
	probe := *a
	if err := probe.compileAuthServer(); err != nil {
		return c.at(err)
	}
	return nil
}
