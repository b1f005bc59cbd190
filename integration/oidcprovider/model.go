package oidcprovider

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// GrantType names an OAuth 2.0 grant a Client may use at the token endpoint.
type GrantType string

// The grant types the provider implements.
const (
	// GrantAuthorizationCode is the authorization code grant (browser login).
	GrantAuthorizationCode GrantType = "authorization_code"
	// GrantRefreshToken is the refresh_token grant; refresh tokens are only
	// issued when the auth request asked for the offline_access scope.
	GrantRefreshToken GrantType = "refresh_token"
	// GrantClientCredentials is the client_credentials grant (machine tokens);
	// only confidential clients may use it.
	GrantClientCredentials GrantType = "client_credentials"
)

// User is an end user that can sign in at the provider's login page.
//
// Every claim the user has is in the userinfo response whatever scopes were
// requested, so tests get predictable answers: email and email_verified
// (when Email is set), name, given_name, family_name, preferred_username
// (the Username), groups (when non-empty) and everything in Claims. The
// Lenient profile puts them into ID tokens and JWT access tokens too; the
// Strict profile serves them only at userinfo. Userinfo and tokens always
// reflect the user's current data (see Provider.UpdateUser).
type User struct {
	// ID is the subject ("sub"). Empty means Username.
	ID string
	// Username is what the login form's #username input must contain.
	Username string
	// Password is what the login form's #password input must contain.
	Password string
	// Email is the "email" claim; empty leaves it out.
	Email string
	// EmailVerified is the "email_verified" claim (left out when false).
	EmailVerified bool
	// Name is the "name" claim.
	Name string
	// GivenName is the "given_name" claim.
	GivenName string
	// FamilyName is the "family_name" claim.
	FamilyName string
	// Groups is the "groups" claim, a JSON array of strings.
	Groups []string
	// Claims are extra claims added to userinfo (and, Lenient profile, to ID
	// and access tokens). They never replace the registered claims (iss,
	// sub, aud, exp, ...).
	Claims map[string]any
	// OTP is the user's one-time password, the second factor typed into
	// the login form's #otp input (see ACRMultiFactor); empty: the user
	// has no second factor.
	OTP string
}

// Client is a registered relying party or machine client.
type Client struct {
	// ID is the client_id. Required.
	ID string
	// Secret is the client secret. Empty makes a public client: it
	// authenticates with no secret at the token endpoint and must use PKCE
	// with S256. A confidential client may use PKCE but need not; it
	// authenticates with client_secret_basic or client_secret_post.
	Secret string
	// RedirectURIs are the exact redirect_uri values accepted.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the exact post_logout_redirect_uri values
	// accepted at the end_session endpoint.
	PostLogoutRedirectURIs []string
	// GrantTypes the client may use. Empty means authorization_code and
	// refresh_token, plus client_credentials for a confidential client.
	GrantTypes []GrantType
	// OpaqueAccessTokens makes the provider issue opaque (encrypted) access
	// tokens instead of the default JWT access tokens.
	OpaqueAccessTokens bool
	// IDTokenLifetime overrides the provider's default when non-zero.
	IDTokenLifetime time.Duration
	// AccessTokenLifetime overrides the provider's default when non-zero.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime overrides the provider's default when non-zero.
	RefreshTokenLifetime time.Duration
	// BackChannelLogoutURI, when set, receives an OpenID Connect back-channel
	// logout token (form field logout_token, typ logout+jwt) for every
	// provider session this client took part in, when that session ends at the
	// end_session endpoint.
	BackChannelLogoutURI string
	// Audience lists extra audiences added after the client ID to the "aud"
	// of the tokens issued to this client (access and ID tokens alike).
	Audience []string
	// AllowedScopes lists the non-standard scopes the client may request.
	// Empty allows any scope. openid, profile, email, phone, address and
	// offline_access are always allowed.
	AllowedScopes []string
	// Claims are extra claims added to every access token issued to this
	// client (for instance roles for a machine client).
	Claims map[string]any
	// RequireAuthTime is the client's require_auth_time registration
	// (OpenID Connect Dynamic Client Registration 1.0 §2): in the Strict
	// profile its ID tokens always carry auth_time. Lenient ID tokens always
	// carry it anyway.
	RequireAuthTime bool
}

// public reports whether the client has no secret.
func (c *Client) public() bool { return c.Secret == "" }

// grantTypes returns the effective grant types of the client.
func (c *Client) grantTypes() []GrantType {
	if len(c.GrantTypes) > 0 {
		return c.GrantTypes
	}
	if c.public() {
		return []GrantType{GrantAuthorizationCode, GrantRefreshToken}
	}
	return []GrantType{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
}

// allows reports whether the client may use grant g.
func (c *Client) allows(g GrantType) bool { return slices.Contains(c.grantTypes(), g) }

// audience returns the "aud" of tokens issued to the client.
func (c *Client) audience() []string {
	return append([]string{c.ID}, c.Audience...)
}

// opClient adapts a Client to op.Client.
type opClient struct {
	c          Client
	loginURL   func(authRequestID string) string
	idTokenTTL time.Duration
}

var _ op.Client = (*opClient)(nil)

// GetID implements op.Client.
func (o *opClient) GetID() string { return o.c.ID }

// RedirectURIs implements op.Client.
func (o *opClient) RedirectURIs() []string { return o.c.RedirectURIs }

// PostLogoutRedirectURIs implements op.Client.
func (o *opClient) PostLogoutRedirectURIs() []string { return o.c.PostLogoutRedirectURIs }

// LoginURL implements op.Client: the provider's login page.
func (o *opClient) LoginURL(id string) string { return o.loginURL(id) }

// IDTokenLifetime implements op.Client.
func (o *opClient) IDTokenLifetime() time.Duration { return o.idTokenTTL }

// DevMode implements op.Client. It allows plain-http redirect URIs for
// public clients, which the loopback test setup needs.
func (o *opClient) DevMode() bool { return true }

// IDTokenUserinfoClaimsAssertion implements op.Client. It makes ID tokens
// carry the user's claims even when an access token is issued alongside.
func (o *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// ClockSkew implements op.Client.
func (o *opClient) ClockSkew() time.Duration { return 0 }

// ApplicationType implements op.Client.
func (o *opClient) ApplicationType() op.ApplicationType {
	if o.c.public() {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

// AuthMethod implements op.Client: none for public clients, else
// client_secret_basic (client_secret_post is accepted too).
func (o *opClient) AuthMethod() oidc.AuthMethod {
	if o.c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes implements op.Client: only the code flow.
func (o *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

// GrantTypes implements op.Client.
func (o *opClient) GrantTypes() []oidc.GrantType {
	var out []oidc.GrantType
	for _, g := range o.c.grantTypes() {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

// AccessTokenType implements op.Client: JWT unless OpaqueAccessTokens.
func (o *opClient) AccessTokenType() op.AccessTokenType {
	if o.c.OpaqueAccessTokens {
		return op.AccessTokenTypeBearer
	}
	return op.AccessTokenTypeJWT
}

// RestrictAdditionalIdTokenScopes implements op.Client; nothing is removed.
func (o *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// RestrictAdditionalAccessTokenScopes implements op.Client; nothing is removed.
func (o *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed implements op.Client, after Client.AllowedScopes.
func (o *opClient) IsScopeAllowed(scope string) bool {
	return len(o.c.AllowedScopes) == 0 || slices.Contains(o.c.AllowedScopes, scope)
}
