package caddymodule

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/authserver"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/clientreg"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/endpoint"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// SelfAuthorizationServer in a resource's AuthorizationServers names
// the gateway's own authorization server (AuthorizationServerConfig).
const SelfAuthorizationServer = "self"

// AuthorizationServerWellKnown is where the RFC 8414 metadata of the
// gateway's authorization server is served (with the issuer's path
// appended when it has one, RFC 8414 §3.1).
const AuthorizationServerWellKnown = "/.well-known/oauth-authorization-server"

// authServerPath is the directory of the authorization server's
// endpoints under the endpoint prefix: /.portcullis/oauth/….
const authServerPath = "oauth/"

// AuthorizationServerConfig makes Portcullis the OAuth 2.1
// authorization server of the resources that name it (`resource <uri> {
// authorization_servers self }`): MCP clients discover it from the
// resource's RFC 9728 metadata, register (Client ID Metadata Documents
// or RFC 7591), send the user through the gateway's browser sign-in and
// a consent page, and get short-lived access tokens signed by the
// gateway, which the routes bound to the token's resource (`resource
// <uri>` in the route) then accept like any JWT; routes bound to no
// resource refuse them, and the app's grants never widen their scopes
// (they carry what the user consented to).
//
// Endpoints, on every site that uses the handler: the metadata at
// /.well-known/oauth-authorization-server, and under the endpoint
// prefix oauth/authorize, oauth/consent, oauth/token, oauth/revoke,
// oauth/register and oauth/jwks.json. Needs `session` and `oidc` (users
// sign in with the configured provider).
type AuthorizationServerConfig struct {
	// Issuer is the authorization server's issuer identifier: the
	// gateway's public URL (https, or http on loopback), e.g.
	// `https://gw.example.com`. The endpoints are served on its origin.
	// Required.
	Issuer string `json:"issuer,omitempty"`
	// SigningKeys are PEM EC P-256 private keys (normally
	// `{file./etc/portcullis/as.pem}`) that sign access tokens (ES256):
	// the first signs, all are published at the JWKS, so a key is
	// rotated by adding the new one second, then moving it first.
	// Default: one key generated on first use and kept in the store
	// (shared by every replica on the same Redis; with the in-memory
	// store it lasts until restart).
	SigningKeys []string `json:"signing_keys,omitempty"`
	// AccessTokenLifetime is how long an access token is valid. Revoking
	// a grant stops its refresh tokens at once; its access tokens run
	// out within this time. Default: 10m.
	AccessTokenLifetime caddy.Duration `json:"access_token_lifetime,omitempty"`
	// RefreshTokenLifetime is how long a refresh token stays usable
	// without being used; every refresh starts it again. Default: 30d.
	RefreshTokenLifetime caddy.Duration `json:"refresh_token_lifetime,omitempty"`
	// ConsentLifetime is how long a user's consent (per client, resource
	// and scope set) is remembered. Default: 90d.
	ConsentLifetime caddy.Duration `json:"consent_lifetime,omitempty"`
	// DynamicRegistration turns RFC 7591 dynamic client registration
	// (oauth/register) on or off. Default: on.
	DynamicRegistration *bool `json:"dynamic_registration,omitempty"`
	// ClientMetadataDocuments turns clients identified by an https URL
	// (OAuth Client ID Metadata Documents, fetched with size, time and
	// redirect limits, cached) on or off. Default: on.
	ClientMetadataDocuments *bool `json:"client_metadata_documents,omitempty"`
	// AllowPrivateClientAddresses lets metadata documents be fetched
	// from loopback and private addresses, and from plain http URLs.
	// Tests only: it opens the gateway to server-side request forgery.
	// Default: false.
	AllowPrivateClientAddresses bool `json:"allow_private_client_addresses,omitempty"`

	// at reports an error at the block's Caddyfile line (nil from JSON).
	at func(error) error
}

// authServer is the compiled authorization server of an app.
type authServer struct {
	cfg       AuthorizationServerConfig
	origin    string // scheme://host of the issuer
	issuerURL *url.URL
	keys      []*ecdsa.PrivateKey
	// resources the server issues tokens for: URI → scopes_supported.
	resources map[string][]string
	server    *authserver.Server
	clients   *clientreg.Registry
	metrics   *authServerMetrics
	// registerLimiter bounds RFC 7591 registrations per client address
	// (each is stored for the registration lifetime).
	registerLimiter ratelimit.Limiter
}

// on reads an on/off pointer with a default of on.
func on(b *bool) bool { return b == nil || *b }

// compileAuthServer checks the authorization_server block (no I/O) and
// builds what does not need the store.
func (a *App) compileAuthServer() error {
	c := a.AuthorizationServer
	selfNamed := slices.ContainsFunc(a.Resources, func(r ResourceConfig) bool {
		return slices.Contains(r.AuthorizationServers, SelfAuthorizationServer)
	})
	if c == nil {
		if selfNamed {
			return errors.New("resource: `authorization_servers self` needs an authorization_server block in the portcullis global option")
		}
		return nil
	}
	u, err := endpoint.CheckSecureURL("authorization_server: issuer", c.Issuer)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Errorf("authorization_server: issuer %q must have no query or fragment (RFC 8414 §2)", c.Issuer)
	}
	as := &authServer{cfg: *c, origin: u.Scheme + "://" + u.Host, issuerURL: u, resources: map[string][]string{}}
	for i, k := range c.SigningKeys {
		pem, err := resolveSecret(fmt.Sprintf("authorization_server: signing_key %d", i+1), k)
		if err != nil {
			return err
		}
		key, err := authserver.ParseKey([]byte(pem))
		if err != nil {
			return fmt.Errorf("authorization_server: signing_key %d: %w", i+1, err)
		}
		as.keys = append(as.keys, key)
	}
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{{"access_token_lifetime", c.AccessTokenLifetime}, {"refresh_token_lifetime", c.RefreshTokenLifetime}, {"consent_lifetime", c.ConsentLifetime}} {
		if d.v < 0 {
			return fmt.Errorf("authorization_server: %s must not be negative", d.name)
		}
	}
	if c.AccessTokenLifetime > 0 && c.RefreshTokenLifetime > 0 && c.AccessTokenLifetime > c.RefreshTokenLifetime {
		return errors.New("authorization_server: access_token_lifetime must not be longer than refresh_token_lifetime")
	}
	if !on(c.DynamicRegistration) && !on(c.ClientMetadataDocuments) {
		return errors.New("authorization_server: with dynamic_registration and client_metadata_documents both off no client can connect; turn one on")
	}
	for _, r := range a.Resources {
		if slices.Contains(r.AuthorizationServers, SelfAuthorizationServer) || slices.Contains(r.AuthorizationServers, c.Issuer) {
			as.resources[r.URI] = slices.DeleteFunc(slices.Clone(r.ScopesSupported), func(s string) bool { return s == "offline_access" })
		}
	}
	if len(as.resources) == 0 {
		return errors.New("authorization_server: no resource names it; add `authorization_servers self` to a resource")
	}
	if a.Session == nil || (a.OIDC == nil && len(a.OIDCProviders) == 0) {
		return errors.New("authorization_server: users sign in through the browser session: configure session and oidc")
	}
	a.authServer = as
	return nil
}

// selfIssuer is the issuer `self` stands for in a resource's
// authorization servers; empty without an authorization_server block.
func (a *App) selfIssuer() string {
	if a.AuthorizationServer == nil {
		return ""
	}
	return a.AuthorizationServer.Issuer
}

// endpointURL is the absolute URL of one of the server's endpoints.
func (as *authServer) endpointURL(prefix, name string) string {
	return as.origin + prefix + authServerPath + name
}

// wellKnownPath is where the server's metadata is served.
func (as *authServer) wellKnownPath() string {
	return AuthorizationServerWellKnown + strings.TrimSuffix(as.issuerURL.EscapedPath(), "/")
}

// lifetimes returns the configured lifetimes (zero: the defaults).
func (c AuthorizationServerConfig) lifetimes() (access, refresh, consent time.Duration) {
	return time.Duration(c.AccessTokenLifetime), time.Duration(c.RefreshTokenLifetime), time.Duration(c.ConsentLifetime)
}

// resolveSelf replaces `self` in a resource's authorization servers
// with the gateway's issuer; with no issuer known (syntax checks) a
// placeholder URL stands in for it.
func resolveSelf(servers []string, self string) []string {
	if !slices.Contains(servers, SelfAuthorizationServer) {
		return servers
	}
	if self == "" {
		self = "https://authorization-server.invalid"
	}
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		if s == SelfAuthorizationServer {
			s = self
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// registerZone is the limit of RFC 7591 registrations per client
// address (an IPv6 address counts by its /64): registration is
// unauthenticated and every registration is kept for the registration
// lifetime, so without it one address could fill the store.
var registerZone = ratelimit.Zone{Name: "oauth_register", Rate: ratelimit.Rate{Count: 60, Period: time.Hour}, Burst: 49}

// newRegisterLimiter returns the in-process limiter of registrations
// (each replica bounds its own).
func newRegisterLimiter() ratelimit.Limiter { return ratelimit.NewMemory(ratelimit.MemoryOptions{}) }

// addressBucket is what counts as one client for per-address limits
// (registrations, failed-credential lockouts): an IPv4 address (also in
// its IPv4-mapped IPv6 form), or the /64 of an IPv6 address, since one
// host usually holds a whole /64 and could otherwise change address
// between attempts. Anything else is returned as is.
func addressBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.WithZone("").Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
