package caddymodule

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// unmarshalUpstreamOAuth reads, in the global option:
//
//	upstream_oauth <name> {
//		label <text>
//		client_id <id>
//		client_secret <secret>             # a placeholder: {env.GITHUB_CLIENT_SECRET}
//		authorization_endpoint <url>
//		token_endpoint <url>
//		revocation_endpoint <url>          # optional: disconnect revokes there
//		issuer <url>                       # optional: checks RFC 9207 iss
//		redirect_url <url>                 # optional: the callback URL
//		scopes <scope…>
//		auth_param <name> <value>
//		pkce on|off                        # default on
//		client_auth basic|post             # default basic
//	}
func (a *App) unmarshalUpstreamOAuth(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	u := new(UpstreamOAuthConfig)
	if err := stringArg(d, &u.Name); err != nil {
		return d.Err("upstream_oauth needs a name: `upstream_oauth <name> { … }`")
	}
	err := readBlock(d, 1, func() error {
		var err error
		switch d.Val() {
		case "label":
			err = stringArg(d, &u.Label)
		case "client_id":
			err = stringArg(d, &u.ClientID)
		case "client_secret":
			err = stringArg(d, &u.ClientSecret)
		case "authorization_endpoint":
			err = stringArg(d, &u.AuthorizationEndpoint)
		case "token_endpoint":
			err = stringArg(d, &u.TokenEndpoint)
		case "revocation_endpoint":
			err = stringArg(d, &u.RevocationEndpoint)
		case "issuer":
			err = stringArg(d, &u.Issuer)
		case "redirect_url":
			err = stringArg(d, &u.RedirectURL)
		case "scopes":
			u.Scopes = append(u.Scopes, d.RemainingArgs()...)
			if len(u.Scopes) == 0 {
				return d.ArgErr()
			}
		case "auth_param":
			var k, v string
			if !d.Args(&k, &v) || d.NextArg() {
				return d.Err("auth_param needs a name and a value: `auth_param access_type offline`")
			}
			if u.AuthParams == nil {
				u.AuthParams = map[string]string{}
			}
			if _, dup := u.AuthParams[k]; dup {
				return d.Errf("auth_param %s is given twice", k)
			}
			u.AuthParams[k] = v
		case "client_auth":
			err = stringArg(d, &u.ClientAuth)
		case "pkce":
			var v string
			if err = stringArg(d, &v); err == nil {
				switch v {
				case "on", "off":
					on := v == "on"
					u.PKCE = &on
				default:
					return d.Errf("pkce must be on or off, not %q", v)
				}
			}
		default:
			return d.Errf("unrecognized upstream_oauth subdirective %q", d.Val())
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, other := range a.UpstreamOAuth {
		if other.Name == u.Name {
			return at(fmt.Errorf("upstream_oauth: provider %s is declared twice", u.Name))
		}
	}
	// insecure_cookie may come later in the block: the redirect_url's
	// scheme is checked again in Provision, which knows.
	if err := u.check(true); err != nil {
		return at(err)
	}
	a.UpstreamOAuth = append(a.UpstreamOAuth, u)
	return nil
}

// unmarshalInject reads, on a route:
//
//	inject <name> [header <Header-Name>] [format "Bearer {token}"]
func (h *Handler) unmarshalInject(d *caddyfile.Dispenser) error {
	if h.Inject != nil {
		return d.Err("inject is given twice")
	}
	at := errAtStart(d)
	in := &InjectConfig{}
	if !d.NextArg() {
		return d.Err("inject needs an upstream_oauth provider name: `inject <name> [header <Header-Name>] [format \"Bearer {token}\"]`")
	}
	in.Provider = d.Val()
	for d.NextArg() {
		switch opt := d.Val(); opt {
		case "header", "format":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if opt == "header" {
				in.Header = d.Val()
				if err := validHeaderName(in.Header); err != nil {
					return d.Errf("inject: %v", err)
				}
			} else {
				in.Format = d.Val()
			}
		default:
			return d.Errf("inject: unrecognized argument %q (want header or format)", opt)
		}
	}
	h.Inject = in
	h.inject = &injector{at: at}
	return nil
}

// checkInjectDeclared reports, at the inject line, a provider the
// global option does not declare.
func (h *Handler) checkInjectDeclared(hl httpcaddyfile.Helper) error {
	if h.Inject == nil || h.inject == nil || h.inject.at == nil {
		return nil
	}
	var app App
	if opt, ok := hl.Option("portcullis").(httpcaddyfile.App); ok {
		if err := json.Unmarshal(opt.Value, &app); err != nil {
			return hl.Errf("reading portcullis global option: %v", err)
		}
	}
	if slices.ContainsFunc(app.UpstreamOAuth, func(u *UpstreamOAuthConfig) bool { return u.Name == h.Inject.Provider }) {
		return nil
	}
	return h.inject.at(fmt.Errorf("inject: upstream_oauth provider %q is not declared; add `upstream_oauth %s { … }` to the portcullis global option", h.Inject.Provider, h.Inject.Provider))
}
