package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/endpoint"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/vault"
)

// UpstreamOAuthConfig declares a third-party OAuth 2.0 provider (GitHub,
// Notion, Figma …) that signed-in users connect once, at
// `/.portcullis/connect/<name>`, so that routes with `inject <name>`
// send the user's token for it upstream. Tokens are kept in the store,
// encrypted with keys derived from the session keys.
type UpstreamOAuthConfig struct {
	// Name identifies the provider in `inject` and in the endpoint paths:
	// 1 to 64 letters, digits, '.', '_' or '-'. Required, unique.
	Name string `json:"name,omitempty"`
	// Label is what people read on the connect page. Default: the name.
	Label string `json:"label,omitempty"`
	// ClientID is the gateway's client id at the provider. Required.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the client secret; use a placeholder
	// (`{env.GITHUB_CLIENT_SECRET}`). Default: none (a public client,
	// which needs PKCE).
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthorizationEndpoint is the provider's authorization endpoint
	// (https, or http on loopback). Required.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// TokenEndpoint is the provider's token endpoint (https, or http on
	// loopback). Required.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// RevocationEndpoint is the provider's RFC 7009 revocation endpoint;
	// disconnecting revokes the user's tokens there. Default: none (a
	// disconnect only forgets them).
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
	// Issuer, when set, must equal the `iss` parameter of an
	// authorization response that carries one (RFC 9207). Default: none.
	Issuer string `json:"issuer,omitempty"`
	// RedirectURL is the exact callback URL registered at the provider,
	// ending in `/.portcullis/connect/<name>/callback`. Default: that
	// path on the scheme and host the connect request came to.
	RedirectURL string `json:"redirect_url,omitempty"`
	// Scopes requested. Default: none (the provider's default).
	Scopes []string `json:"scopes,omitempty"`
	// AuthParams are extra authorization request parameters (`auth_param
	// access_type offline`). Parameters the protocol sets are refused.
	AuthParams map[string]string `json:"auth_params,omitempty"`
	// PKCE sends a PKCE S256 challenge (RFC 7636). Default: true; turn it
	// off only for a provider that refuses it.
	PKCE *bool `json:"pkce,omitempty"`
	// ClientAuth is how the gateway authenticates at the token and
	// revocation endpoints: `basic` (client_secret_basic) or `post`
	// (client_secret_post, as GitHub documents). Default: basic.
	ClientAuth string `json:"client_auth,omitempty"`
}

// InjectConfig makes a route send the user's token for an upstream
// OAuth provider to the upstream.
type InjectConfig struct {
	// Provider names an `upstream_oauth` provider of the app. Required.
	Provider string `json:"provider,omitempty"`
	// Header carries the token. Default: `Authorization`. Client copies
	// of it are always removed.
	Header string `json:"header,omitempty"`
	// Format of the header value; `{token}` is replaced by the token.
	// Default: `Bearer {token}`.
	Format string `json:"format,omitempty"`
}

// reservedAuthParams are set by the protocol; auth_param may not.
var reservedAuthParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "client_secret"}

// check validates an upstream_oauth block (the client secret is
// resolved by provider, in Provision); insecure allows a plain http
// redirect_url (development, with the session's insecure_cookie).
func (u *UpstreamOAuthConfig) check(insecure bool) error {
	if u.Name == "" {
		return errors.New("upstream_oauth: a name is required: `upstream_oauth <name> { … }`")
	}
	if err := checkIssuerName(u.Name); err != nil {
		return fmt.Errorf("upstream_oauth: provider %w", err)
	}
	what := "upstream_oauth " + u.Name
	if u.ClientID == "" {
		return fmt.Errorf("%s: client_id is required", what)
	}
	if u.ClientSecret == "" && u.PKCE != nil && !*u.PKCE {
		return fmt.Errorf("%s: a public client (no client_secret) needs pkce", what)
	}
	if u.ClientAuth != "" && u.ClientAuth != "basic" && u.ClientAuth != "post" {
		return fmt.Errorf("%s: client_auth must be basic or post, not %q", what, u.ClientAuth)
	}
	if u.AuthorizationEndpoint == "" || u.TokenEndpoint == "" {
		return fmt.Errorf("%s: authorization_endpoint and token_endpoint are required", what)
	}
	for _, e := range []struct{ name, raw string }{{"authorization_endpoint", u.AuthorizationEndpoint}, {"token_endpoint", u.TokenEndpoint}, {"revocation_endpoint", u.RevocationEndpoint}} {
		if e.raw == "" {
			continue
		}
		if _, err := endpoint.CheckSecureURL(what+": "+e.name, e.raw); err != nil {
			return err
		}
	}
	if u.RedirectURL != "" {
		p, err := url.Parse(u.RedirectURL)
		if err != nil || p.Host == "" || !(p.Scheme == "https" || p.Scheme == "http" && (insecure || endpoint.IsLoopback(p.Hostname()))) {
			return fmt.Errorf("%s: redirect_url %q must be an https URL (http only on loopback or with insecure_cookie)", what, u.RedirectURL)
		}
		if p.RawQuery != "" || p.Fragment != "" || !strings.HasSuffix(p.Path, "/connect/"+u.Name+"/callback") {
			return fmt.Errorf("%s: redirect_url %q must end in /connect/%s/callback under the endpoint prefix, without a query", what, u.RedirectURL, u.Name)
		}
	}
	for _, s := range u.Scopes {
		if err := policy.ValidateScope(s); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	for k := range u.AuthParams {
		if slices.Contains(reservedAuthParams, strings.ToLower(k)) {
			return fmt.Errorf("%s: auth_param %s is set by the protocol", what, k)
		}
	}
	return nil
}

// provider builds the vault's provider from the checked block.
func (u *UpstreamOAuthConfig) provider() (*vault.Provider, error) {
	p := &vault.Provider{
		Name: u.Name, ClientID: u.ClientID, AuthURL: u.AuthorizationEndpoint, TokenURL: u.TokenEndpoint,
		RevocationURL: u.RevocationEndpoint, Issuer: u.Issuer, Scopes: u.Scopes, AuthParams: u.AuthParams,
		NoPKCE: u.PKCE != nil && !*u.PKCE, ClientSecretPost: u.ClientAuth == "post",
	}
	if u.ClientSecret != "" {
		s, err := resolveSecret("upstream_oauth "+u.Name+": client_secret", u.ClientSecret)
		if err != nil {
			return nil, err
		}
		p.ClientSecret = s
	}
	return p, nil
}

// label is what people read.
func (u *UpstreamOAuthConfig) label() string {
	if u.Label != "" {
		return u.Label
	}
	return u.Name
}

// upstreamVault is the app's credential vault: the store of connections
// and the providers by name.
type upstreamVault struct {
	v *vault.Vault
	// providers in configuration order, and by name.
	order  []*upstreamProvider
	byName map[string]*upstreamProvider
	// csrfKey keys the connect and disconnect forms' CSRF tokens.
	csrfKey []byte
}

// upstreamProvider is one provider and its configuration.
type upstreamProvider struct {
	cfg *UpstreamOAuthConfig
	p   *vault.Provider
}

// compileUpstreamOAuth checks the upstream_oauth blocks (names unique;
// browser sessions needed, as only a signed-in user can connect).
func (a *App) compileUpstreamOAuth() error {
	seen := map[string]bool{}
	insecure := a.Session != nil && a.Session.InsecureCookie
	for _, u := range a.UpstreamOAuth {
		if u == nil {
			return errors.New("upstream_oauth: an empty entry")
		}
		if err := u.check(insecure); err != nil {
			return err
		}
		if seen[u.Name] {
			return fmt.Errorf("upstream_oauth: provider %s is declared twice", u.Name)
		}
		seen[u.Name] = true
		if cfgs, _ := a.oidcConfigs(); a.Session == nil || len(cfgs) == 0 {
			return fmt.Errorf("upstream_oauth %s: users connect providers from a browser session: configure a session block with keys and an oidc login provider", u.Name)
		}
	}
	return nil
}

// setupVault builds the vault on the app's store and session keys. It
// does no network I/O.
func (a *App) setupVault() error {
	if len(a.UpstreamOAuth) == 0 {
		return nil
	}
	v, err := vault.New(vault.Config{
		Store: a.store, Keys: a.sessionKeys,
		OnRefresh: a.vaultRefreshed,
	})
	if err != nil {
		return fmt.Errorf("upstream_oauth: %w", err)
	}
	uv := &upstreamVault{v: v, byName: map[string]*upstreamProvider{}, csrfKey: deriveCSRFKey(a.sessionKeys[0])}
	for _, u := range a.UpstreamOAuth {
		p, err := u.provider()
		if err != nil {
			return err
		}
		up := &upstreamProvider{cfg: u, p: p}
		uv.order = append(uv.order, up)
		uv.byName[u.Name] = up
	}
	a.vault = uv
	return nil
}

// setupInject compiles the route's inject option against the app.
func (h *Handler) setupInject(app *App) error {
	if h.Inject == nil {
		return nil
	}
	in := *h.Inject
	if in.Provider == "" {
		return errors.New("inject: name an upstream_oauth provider: `inject <name>`")
	}
	if app.vault == nil || app.vault.byName[in.Provider] == nil {
		return fmt.Errorf("inject: upstream_oauth provider %q is not declared in the portcullis global option", in.Provider)
	}
	if in.Header == "" {
		in.Header = "Authorization"
	}
	if err := validHeaderName(in.Header); err != nil {
		return fmt.Errorf("inject: %w", err)
	}
	in.Header = http.CanonicalHeaderKey(in.Header)
	if in.Format == "" {
		in.Format = "Bearer {token}"
	}
	if strings.Count(in.Format, "{token}") != 1 || strings.ContainsFunc(in.Format, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("inject: format %q must contain {token} once and no control characters", in.Format)
	}
	if in.Header == "Authorization" && h.ForwardAuthorization {
		return errors.New("inject: the route both forwards the client's Authorization header (forward_authorization) and injects one; choose one")
	}
	if slices.ContainsFunc(h.ih.names(), func(n string) bool { return normalizeHeaderName(n) == normalizeHeaderName(in.Header) }) {
		return fmt.Errorf("inject: header %s is an identity header", in.Header)
	}
	prefix, suffix, _ := strings.Cut(in.Format, "{token}")
	h.inject = &injector{cfg: in, provider: app.vault.byName[in.Provider], prefix: prefix, suffix: suffix}
	// Client copies of the header never reach the upstream (Authorization
	// is removed by forward).
	h.stripper = h.stripper.With(in.Header)
	return nil
}

// injector is a route's compiled inject option.
type injector struct {
	// at reports a mistake at the Caddyfile line of `inject` (set while
	// adapting a Caddyfile only).
	at             func(error) error
	cfg            InjectConfig
	provider       *upstreamProvider
	prefix, suffix string
}
