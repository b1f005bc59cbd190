// Package session keeps browser sessions established by OpenID Connect
// login: a record per session in the shared store, encrypted at rest, and
// a cookie that holds only an encoded ticket (the session id).
//
// Design (see /work/shared/DESIGN.md, section 4):
//
//   - The session id is 256 random bits (base64url). The store key is
//     derived from a SHA-256 hash of it (IDHash), so a store dump or a
//     MONITOR trace reveals no usable ticket; the id itself only ever
//     travels in the cookie.
//   - The record (subject, claims, IdP tokens, timestamps) is sealed with
//     AES-256-GCM under a key derived with HKDF from the configured keys,
//     bound to its store key. Several keys rotate: the first seals and
//     encodes cookies, all open and decode.
//   - The cookie is a securecookie-encoded ticket: HttpOnly, Secure,
//     `__Host-` prefixed, SameSite=Strict by default. It never holds
//     tokens, so it is never split.
//   - Idle timeout (sliding, written at most once per TouchInterval per
//     session, with an atomic compare-and-swap so a touch never revives a
//     deleted session or reverts a refresh) and absolute timeout (never
//     extended). The store TTL is min(idle, remaining absolute).
//   - Every Load reads the store once, so a logout or a back-channel
//     revocation takes effect on every replica at once. A replica reuses a
//     record it decoded only when the stored bytes are the very bytes it
//     decoded (see recordCache).
//   - IdP tokens are refreshed before they expire, once across all
//     replicas (a lock in the store); see Refresher.
//
// The package is plain Go (no Caddy, no zap). Errors start with
// "session: " and never contain a cookie, a session id or a token.
package session

import (
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// Claims are what the identity provider said about the user at login
// and the last refresh (ID token and UserInfo), kept for authorization
// and identity headers.
type Claims struct {
	// Issuer is the `iss` of the ID token.
	Issuer string `json:"iss,omitempty"`
	// Email is the `email` claim.
	Email string `json:"email,omitempty"`
	// Name is the `name` claim (or preferred_username when absent).
	Name string `json:"name,omitempty"`
	// Groups are group or role names from the configured claims.
	Groups []string `json:"groups,omitempty"`
	// ACR is the authentication context class reference (`acr`).
	ACR string `json:"acr,omitempty"`
	// AMR are the authentication methods references (`amr`).
	AMR []string `json:"amr,omitempty"`
	// AuthTime is when the user actually authenticated at the provider
	// (`auth_time`); zero when the provider did not say.
	AuthTime time.Time `json:"auth_time,omitzero"`
	// SID is the provider's session id (`sid`), used by back-channel
	// logout; empty when the provider does not send one.
	SID string `json:"sid,omitempty"`
	// Raw are all claims of the ID token merged with UserInfo's, as
	// decoded from JSON (numbers are float64), for claim requirements in
	// policies. Nil when unknown.
	Raw map[string]any `json:"raw,omitempty"`
	// UserInfoClaims name the claims of Raw that came from UserInfo, so a
	// refresh can replace them with the provider's current ones (and drop
	// those it no longer sends) while keeping the ID token's.
	UserInfoClaims []string `json:"uic,omitempty"`
}

// Tokens are the identity provider's tokens of a session. They are
// secrets: never log them.
type Tokens struct {
	// AccessToken is the OAuth access token.
	AccessToken string `json:"access_token,omitempty"`
	// TokenType is the access token's type, usually "Bearer".
	TokenType string `json:"token_type,omitempty"`
	// RefreshToken is the OAuth refresh token; empty if none was issued
	// (the tokens are then never refreshed).
	RefreshToken string `json:"refresh_token,omitempty"`
	// IDToken is the raw ID token (for id_token_hint at logout).
	IDToken string `json:"id_token,omitempty"`
	// Expiry is when the access token expires; zero means unknown (never
	// refreshed proactively).
	Expiry time.Time `json:"expiry,omitzero"`
	// Obtained is when these tokens were issued, used to refresh when 20%
	// of their lifetime is left. Zero: the Manager sets it to now.
	Obtained time.Time `json:"obtained,omitzero"`
	// Scope is the space-separated list of scopes the provider granted
	// with the access token (the token response's `scope`, RFC 6749
	// §5.1), as it sent it; empty when it did not say.
	Scope string `json:"scope,omitempty"`
}

// Login is what a successful login hands to Manager.Create.
type Login struct {
	// Subject is the `sub` claim (namespaced by the caller when several
	// providers could issue the same one). Required.
	Subject string
	// Provider names the login provider, for refresh, logout and the
	// principal; empty with a single unnamed provider.
	Provider string
	// Remember asks for a remembered session (Config.RememberTimeout).
	Remember bool
	// Claims are the user's claims.
	Claims Claims
	// Tokens are the provider's tokens.
	Tokens Tokens
}

// Session is a loaded session. Load returns a fresh Session each time,
// but its Claims (Groups, AMR and Raw with everything inside) may be
// shared with other requests: treat them as read-only. So may the
// Principal's Groups, AMR and Claims (a principal is never modified).
// Slices shared between requests have no spare capacity, so an append
// to Groups or AMR copies.
type Session struct {
	// IDHash identifies the session in logs, audit events and admin
	// calls (Manager.Delete): base64url SHA-256 of the session id. It is
	// not a ticket: knowing it does not let anyone use the session.
	IDHash string
	// Subject is the user's `sub` (namespaced with several providers).
	Subject string
	// Provider names the login provider ("" for a single unnamed one).
	Provider string
	// Remembered reports a "remember me" session.
	Remembered bool
	// Claims are the user's claims from the last login.
	Claims Claims
	// Tokens are the current provider tokens (after any refresh). Secret.
	Tokens Tokens
	// Created is when the session was created (login).
	Created time.Time
	// LastSeen is when the session was last touched; it lags real use by
	// at most the Manager's TouchInterval.
	LastSeen time.Time
	// Expires is the absolute expiry, never extended.
	Expires time.Time
	// IdleExpires is when the session ends if not used again.
	IdleExpires time.Time
}

// Principal returns the session's user as the principal every later step
// consumes. It shares the session's Groups, AMR and raw claims
// (read-only, see Session): building it allocates nothing.
func (s *Session) Principal() principal.Principal {
	return principal.Principal{
		Subject:   s.Subject,
		Method:    principal.MethodSession,
		Name:      s.Claims.Name,
		Email:     s.Claims.Email,
		Groups:    s.Claims.Groups,
		ACR:       s.Claims.ACR,
		AMR:       s.Claims.AMR,
		AuthTime:  s.Claims.AuthTime,
		ExpiresAt: s.IdleExpires,
		Claims:    s.Claims.Raw,
		SessionID: s.IDHash,
		Provider:  s.Provider,
	}
}

// Info is what the whoami endpoint shows about a session: identity and
// timing, never tokens. Its JSON form is the endpoint's response body.
type Info struct {
	// Subject is the user's `sub` (namespaced with several providers).
	Subject string `json:"sub"`
	// Provider names the login provider, when named.
	Provider string `json:"provider,omitempty"`
	// Remembered reports a "remember me" session (a longer lifetime).
	Remembered bool `json:"remembered,omitempty"`
	// Email is the user's email, when known.
	Email string `json:"email,omitempty"`
	// Name is the user's name, when known.
	Name string `json:"name,omitempty"`
	// Groups are the user's groups or roles.
	Groups []string `json:"groups,omitempty"`
	// ACR is the authentication context class of the login.
	ACR string `json:"acr,omitempty"`
	// AMR are the authentication methods of the login.
	AMR []string `json:"amr,omitempty"`
	// Scopes are the session's effective scopes; Info leaves them empty
	// (the adapter knows the grants and implications that make them).
	Scopes []string `json:"scopes,omitempty"`
	// AuthTime is when the user authenticated at the provider.
	AuthTime time.Time `json:"auth_time,omitzero"`
	// Created is when the session started.
	Created time.Time `json:"created"`
	// Expires is the absolute expiry.
	Expires time.Time `json:"expires"`
	// IdleExpires is when the session ends if unused.
	IdleExpires time.Time `json:"idle_expires"`
}

// Info returns the session's whoami view.
func (s *Session) Info() Info {
	return Info{
		Subject:     s.Subject,
		Provider:    s.Provider,
		Remembered:  s.Remembered,
		Email:       s.Claims.Email,
		Name:        s.Claims.Name,
		Groups:      s.Claims.Groups,
		ACR:         s.Claims.ACR,
		AMR:         s.Claims.AMR,
		AuthTime:    s.Claims.AuthTime,
		Created:     s.Created,
		Expires:     s.Expires,
		IdleExpires: s.IdleExpires,
	}
}
