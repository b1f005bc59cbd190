package oidcprovider

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequest is a pending or authenticated authorization request. It
// implements op.AuthRequest; the op package only ever sees clones.
type authRequest struct {
	id            string
	created       time.Time
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	prompt        []string
	maxAge        *uint
	loginHint     string
	audience      []string
	// omitAuthTime leaves auth_time out of the ID tokens (strict profile,
	// auth_time not asked for).
	omitAuthTime bool
	// idTokenClaims are the claims the claims parameter asked for in the
	// ID token (strict profile).
	idTokenClaims []string
	// acrValues is the acr_values parameter (see mfaRequested).
	acrValues []string

	// Set once a user has authenticated.
	userID    string
	authTime  time.Time
	amr       []string
	acr       string
	sessionID string
	done      bool
}

var _ op.AuthRequest = (*authRequest)(nil)

// clone returns a deep copy.
func (a *authRequest) clone() *authRequest {
	c := *a
	c.scopes = slices.Clone(a.scopes)
	c.prompt = slices.Clone(a.prompt)
	c.audience = slices.Clone(a.audience)
	c.amr = slices.Clone(a.amr)
	c.idTokenClaims = slices.Clone(a.idTokenClaims)
	c.acrValues = slices.Clone(a.acrValues)
	if a.codeChallenge != nil {
		cc := *a.codeChallenge
		c.codeChallenge = &cc
	}
	if a.maxAge != nil {
		m := *a.maxAge
		c.maxAge = &m
	}
	return &c
}

// GetID implements op.AuthRequest.
func (a *authRequest) GetID() string { return a.id }

// GetACR implements op.AuthRequest: ACRMultiFactor after a login with a
// second factor, else none.
func (a *authRequest) GetACR() string { return a.acr }

// GetAMR implements op.AuthRequest.
func (a *authRequest) GetAMR() []string { return a.amr }

// GetAudience implements op.AuthRequest.
func (a *authRequest) GetAudience() []string { return a.audience }

// GetAuthTime implements op.AuthRequest. The op package puts it into the
// ID token as auth_time unless it is the zero time.
func (a *authRequest) GetAuthTime() time.Time {
	if a.omitAuthTime {
		return time.Time{}
	}
	return a.authTime
}

// GetClientID implements op.AuthRequest.
func (a *authRequest) GetClientID() string { return a.clientID }

// GetCodeChallenge implements op.AuthRequest.
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }

// GetNonce implements op.AuthRequest.
func (a *authRequest) GetNonce() string { return a.nonce }

// GetRedirectURI implements op.AuthRequest.
func (a *authRequest) GetRedirectURI() string { return a.redirectURI }

// GetResponseType implements op.AuthRequest.
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.responseType }

// GetResponseMode implements op.AuthRequest.
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.responseMode }

// GetScopes implements op.AuthRequest.
func (a *authRequest) GetScopes() []string { return a.scopes }

// GetState implements op.AuthRequest.
func (a *authRequest) GetState() string { return a.state }

// GetSubject implements op.AuthRequest.
func (a *authRequest) GetSubject() string { return a.userID }

// Done implements op.AuthRequest.
func (a *authRequest) Done() bool { return a.done }

// GetSessionID returns the provider session the request was authenticated in.
func (a *authRequest) GetSessionID() string { return a.sessionID }

// requestedIDTokenClaims returns the claims asked for in the ID token.
func (a *authRequest) requestedIDTokenClaims() []string { return a.idTokenClaims }

// refreshTokenRequest is what a refresh token stands for. It implements
// op.RefreshTokenRequest.
type refreshTokenRequest struct {
	clientID  string
	userID    string
	audience  []string
	scopes    []string
	amr       []string
	authTime  time.Time
	sessionID string
	// omitAuthTime and idTokenClaims come from the auth request.
	omitAuthTime  bool
	idTokenClaims []string
}

var _ op.RefreshTokenRequest = (*refreshTokenRequest)(nil)

// GetAMR implements op.RefreshTokenRequest.
func (r *refreshTokenRequest) GetAMR() []string { return r.amr }

// GetAudience implements op.RefreshTokenRequest.
func (r *refreshTokenRequest) GetAudience() []string { return r.audience }

// GetAuthTime implements op.RefreshTokenRequest: the time of the original
// authentication (zero when the ID token must not carry it).
func (r *refreshTokenRequest) GetAuthTime() time.Time {
	if r.omitAuthTime {
		return time.Time{}
	}
	return r.authTime
}

// GetClientID implements op.RefreshTokenRequest.
func (r *refreshTokenRequest) GetClientID() string { return r.clientID }

// GetScopes implements op.RefreshTokenRequest.
func (r *refreshTokenRequest) GetScopes() []string { return r.scopes }

// GetSubject implements op.RefreshTokenRequest.
func (r *refreshTokenRequest) GetSubject() string { return r.userID }

// SetCurrentScopes implements op.RefreshTokenRequest (scope narrowing).
func (r *refreshTokenRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// GetSessionID returns the provider session the refresh token descends from.
func (r *refreshTokenRequest) GetSessionID() string { return r.sessionID }

// requestedIDTokenClaims returns the claims the auth request asked for in
// the ID token.
func (r *refreshTokenRequest) requestedIDTokenClaims() []string { return r.idTokenClaims }

// clone returns a deep copy.
func (r refreshTokenRequest) clone() *refreshTokenRequest {
	r.audience = slices.Clone(r.audience)
	r.scopes = slices.Clone(r.scopes)
	r.amr = slices.Clone(r.amr)
	r.idTokenClaims = slices.Clone(r.idTokenClaims)
	return &r
}

// clientCredentialsRequest is a client_credentials token request. It
// implements op.TokenRequest; the subject is the client ID.
type clientCredentialsRequest struct {
	clientID string
	audience []string
	scopes   []string
}

var _ op.TokenRequest = (*clientCredentialsRequest)(nil)

// GetSubject implements op.TokenRequest.
func (c *clientCredentialsRequest) GetSubject() string { return c.clientID }

// GetAudience implements op.TokenRequest.
func (c *clientCredentialsRequest) GetAudience() []string { return c.audience }

// GetScopes implements op.TokenRequest.
func (c *clientCredentialsRequest) GetScopes() []string { return c.scopes }

// GetClientID returns the client the token is issued to.
func (c *clientCredentialsRequest) GetClientID() string { return c.clientID }

// requestInfo extracts what the store records about any token request.
func requestInfo(req op.TokenRequest) (clientID, sessionID string) {
	if c, ok := req.(interface{ GetClientID() string }); ok {
		clientID = c.GetClientID()
	}
	if s, ok := req.(interface{ GetSessionID() string }); ok {
		sessionID = s.GetSessionID()
	}
	return clientID, sessionID
}
