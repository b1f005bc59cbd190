package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// defaultProviderName names a single `oidc` block without a name.
const defaultProviderName = "oidc"

// loginProvider is one configured OpenID provider and its client.
type loginProvider struct {
	name   string
	label  string
	cfg    *OIDCConfig
	client *oidcflow.Client
}

// loginProviders are the configured OpenID providers, in configuration
// order. With more than one, subjects and provider session ids are
// namespaced ("<name>:<sub>"), so the same `sub` at two providers never
// names one user.
type loginProviders struct {
	list       []*loginProvider
	namespaced bool
	authHost   string // the redirect URLs' host when the session has a domain
	authOrigin string // scheme://host[:port] of the redirect URLs
}

// oidcConfigs returns the app's provider blocks with their names.
func (a *App) oidcConfigs() ([]*OIDCConfig, error) {
	switch {
	case a.OIDC != nil && len(a.OIDCProviders) > 0:
		return nil, errors.New("oidc: give either one unnamed oidc block or named ones (`oidc <name> <issuer>`), not both")
	case a.OIDC != nil:
		c := *a.OIDC
		if c.Name == "" {
			c.Name = defaultProviderName
		}
		return []*OIDCConfig{&c}, nil
	}
	seen := map[string]bool{}
	for _, c := range a.OIDCProviders {
		if c == nil || c.Name == "" {
			return nil, errors.New("oidc: with several providers each needs a name: `oidc <name> <issuer> { … }`")
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("oidc: provider name %q is given twice", c.Name)
		}
		seen[c.Name] = true
	}
	return a.OIDCProviders, nil
}

// setupProviders builds an OpenID client per provider block.
func (a *App) setupProviders(cookie session.CookieConfig) (*loginProviders, error) {
	cfgs, err := a.oidcConfigs()
	if err != nil || len(cfgs) == 0 {
		return nil, err
	}
	policy := oidcflow.ReturnPolicy{Domain: a.Session.Domain, Hosts: a.Session.ReturnHosts, AllowHTTP: cookie.Insecure}
	ps := &loginProviders{namespaced: len(cfgs) > 1}
	for _, oc := range cfgs {
		secret := ""
		if oc.ClientSecret != "" {
			if secret, err = resolveSecret("oidc "+oc.Name+": client_secret", oc.ClientSecret); err != nil {
				return nil, err
			}
		}
		var skew *time.Duration
		if oc.ClockSkew != nil {
			skew = new(time.Duration(*oc.ClockSkew))
		}
		c, err := oidcflow.New(oidcflow.Config{
			Issuer: oc.Issuer, ClientID: oc.ClientID, ClientSecret: secret,
			RedirectURL: oc.RedirectURL, PostLogoutRedirectURL: oc.PostLogoutRedirectURL,
			Scopes: oc.Scopes, GroupsClaims: oc.GroupsClaims,
			Prompt: oc.Prompt, ClaimsRequest: oc.Claims, AuthParams: oc.AuthParams,
			DisableUserInfo: oc.DisableUserInfo, DisableRevocation: oc.DisableRevocation,
			ClockSkew: skew, OnProblem: a.providerProblemLogger(oc), Return: policy,
			Keys: a.sessionKeys, Store: a.store, Cookie: cookie,
		})
		if err != nil {
			return nil, fmt.Errorf("oidc %s: %w", oc.Name, err)
		}
		label := oc.Label
		if label == "" {
			label = oc.Name
		}
		ps.list = append(ps.list, &loginProvider{name: oc.Name, label: label, cfg: oc, client: c})
	}
	if err := ps.setAuthHost(a.Session.Domain); err != nil {
		return nil, err
	}
	if shared := ps.sharedRedirects(); len(shared) > 0 && a.logger != nil {
		a.logger.Warn("several oidc providers share a redirect_url: give each its own (…/.portcullis/callback/<name>), so a login response can only be completed by the provider it came from (OAuth mix-up, RFC 9700 §4.4); providers that send RFC 9207 iss are protected either way",
			zap.Strings("providers", shared))
	}
	return ps, nil
}

// setAuthHost derives the auth host from the redirect URLs: with a
// cookie domain, every provider's redirect URL must be on one host of
// that domain, where every login goes.
func (ps *loginProviders) setAuthHost(domain string) error {
	if domain == "" {
		return nil
	}
	for i, p := range ps.list {
		u, err := url.Parse(p.cfg.RedirectURL)
		if err != nil {
			return fmt.Errorf("oidc %s: redirect_url: %w", p.name, err)
		}
		host := strings.ToLower(u.Hostname())
		if i == 0 {
			ps.authHost, ps.authOrigin = host, u.Scheme+"://"+u.Host
		} else if u.Scheme+"://"+u.Host != ps.authOrigin {
			return fmt.Errorf("oidc %s: redirect_url %s is not on the auth host %s: with a session domain every provider's callback is on one host", p.name, p.cfg.RedirectURL, ps.authOrigin)
		}
		if !oidcflow.InDomain(host, domain) {
			return fmt.Errorf("oidc %s: redirect_url host %s is not in the session domain %s", p.name, host, domain)
		}
	}
	return nil
}

// byName returns the provider named name, or nil.
func (ps *loginProviders) byName(name string) *loginProvider {
	for _, p := range ps.list {
		if p.name == name {
			return p
		}
	}
	return nil
}

// forSession returns the provider a session logged in at: by name, or
// the only one for sessions from before providers had names.
func (ps *loginProviders) forSession(name string) *loginProvider {
	if p := ps.byName(name); p != nil {
		return p
	}
	if name == "" && len(ps.list) == 1 {
		return ps.list[0]
	}
	return nil
}

// forEmail returns the provider whose email_domains include the domain
// of address, or nil.
func (ps *loginProviders) forEmail(address string) *loginProvider {
	_, domain, ok := strings.Cut(address, "@")
	if !ok || domain == "" {
		return nil
	}
	for _, p := range ps.list {
		if slices.ContainsFunc(p.cfg.EmailDomains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return p
		}
	}
	return nil
}

// candidates returns the providers a route accepts (all without pins).
func (ps *loginProviders) candidates(pinned []string) []*loginProvider {
	if len(pinned) == 0 {
		return ps.list
	}
	var out []*loginProvider
	for _, p := range ps.list {
		if slices.Contains(pinned, p.name) {
			out = append(out, p)
		}
	}
	return out
}

// forCallback returns the provider whose login flow the callback request
// completes (its flow cookie is there), else the first: its Callback
// then reports the missing or foreign flow.
func (ps *loginProviders) forCallback(r *http.Request) *loginProvider {
	for _, p := range ps.list {
		if p.client.OwnsCallback(r) {
			return p
		}
	}
	return ps.list[0]
}

// subject returns the session subject of a provider's `sub`: namespaced
// with several providers.
func (ps *loginProviders) subject(p *loginProvider, sub string) string {
	if !ps.namespaced {
		return sub
	}
	return p.name + ":" + sub
}

// rawSubject undoes subject.
func (ps *loginProviders) rawSubject(p *loginProvider, subject string) string {
	if !ps.namespaced {
		return subject
	}
	return strings.TrimPrefix(subject, p.name+":")
}

// Refresh implements session.Refresher: the session's provider renews
// its tokens (with its raw `sub`).
func (ps *loginProviders) Refresh(ctx context.Context, req session.RefreshRequest) (session.Refreshed, error) {
	p := ps.forSession(req.Provider)
	if p == nil {
		// The provider was removed from the configuration: the session
		// cannot be refreshed, and ends like a refused refresh.
		return session.Refreshed{}, fmt.Errorf("%w: provider %q is no longer configured", oidcflow.ErrRefreshRefused, req.Provider)
	}
	req.Subject = ps.rawSubject(p, req.Subject)
	// The claims a refresh returns keep the session's (namespaced) sid.
	return p.client.Refresh(ctx, req)
}

// providerProblemLogger returns the OnProblem hook of a provider: its
// failures to reach or trust the provider, logged once per cause.
func (a *App) providerProblemLogger(oc *OIDCConfig) func(oidcflow.Problem) {
	return func(p oidcflow.Problem) {
		if a.logger == nil {
			return
		}
		fields := []zap.Field{zap.String("provider", oc.Name), zap.String("issuer", oc.Issuer), zap.String("component", p.Component)}
		switch {
		case p.Resolved:
			a.logger.Info("identity provider works again", fields...)
		case p.Reason == oidcflow.ReasonMisconfigured:
			a.logger.Error("identity provider cannot be used as configured", append(fields, zap.String("reason", p.Reason), zap.String("cause", p.Cause))...)
		default:
			a.logger.Warn("identity provider problem", append(fields, zap.String("reason", p.Reason), zap.String("cause", p.Cause))...)
		}
		if !p.Resolved && a.metrics != nil {
			a.metrics.providerProblems.WithLabelValues(p.Component, p.Reason).Inc()
		}
	}
}

// provider returns the provider of a session, or nil (no SSO, or a
// provider no longer configured).
func (a *App) provider(name string) *loginProvider {
	if a.sso == nil {
		return nil
	}
	return a.sso.forSession(name)
}

// verifyLogoutToken verifies a back-channel logout token with the
// provider whose issuer it names (read before verification only to pick
// the candidates; each verifies it fully). With two blocks of one issuer
// (two clients), the token's audience decides.
func (ps *loginProviders) verifyLogoutToken(ctx context.Context, raw string) (*loginProvider, *oidcflow.LogoutToken, error) {
	iss := unverifiedIssuer(raw)
	var firstErr error
	for _, p := range ps.list {
		if len(ps.list) > 1 && p.cfg.Issuer != iss {
			continue
		}
		lt, err := p.client.VerifyLogoutToken(ctx, raw)
		if err == nil {
			return p, lt, nil
		}
		if firstErr == nil || errors.Is(err, oidcflow.ErrUnavailable) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%w: no configured provider has its issuer", oidcflow.ErrLogoutToken)
	}
	return nil, nil, firstErr
}

// unverifiedIssuer reads the `iss` of a compact JWS without verifying
// it, to choose the key set that will; "" when it does not decode.
func unverifiedIssuer(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	_ = json.Unmarshal(b, &c)
	return c.Iss
}

// checkProviders reports, at the directive's line, a route that names a
// login provider the global option does not declare.
func (g *declared) checkProviders(d *caddyfile.Dispenser, names []string) error {
	if g == nil {
		return nil
	}
	for _, n := range names {
		if !slices.Contains(g.providers, n) {
			return d.Errf("providers: %q is not a declared oidc provider (declared: %s)", n, strings.Join(g.providers, ", "))
		}
	}
	return nil
}

// resolveProviders checks a route's providers against the app's.
func (a *App) resolveProviders(names []string) error {
	if len(names) == 0 {
		return nil
	}
	if a.sso == nil {
		return errors.New("providers is set but no oidc provider is configured")
	}
	for _, n := range names {
		if a.sso.byName(n) == nil {
			return fmt.Errorf("providers: %q is not a configured oidc provider", n)
		}
	}
	return nil
}

// sharedRedirects names the providers whose redirect_url another
// provider uses too.
func (ps *loginProviders) sharedRedirects() []string {
	count := map[string]int{}
	for _, p := range ps.list {
		count[p.cfg.RedirectURL]++
	}
	var out []string
	for _, p := range ps.list {
		if count[p.cfg.RedirectURL] > 1 {
			out = append(out, p.name)
		}
	}
	return out
}
