// Package principal defines who is calling: the identity every
// authentication method produces and every later step (authorization,
// rate limiting, forwarding, audit) consumes.
package principal

import "time"

// Method names how a principal authenticated.
type Method string

// The authentication methods Portcullis knows.
const (
	// MethodAPIKey is an API key issued by the operator.
	MethodAPIKey Method = "api_key"
	// MethodJWT is a bearer JWT from a trusted issuer.
	MethodJWT Method = "jwt"
	// MethodSession is a browser session established by OpenID Connect login.
	MethodSession Method = "session"
)

// Valid reports whether m is one of the known methods.
func (m Method) Valid() bool {
	switch m {
	case MethodAPIKey, MethodJWT, MethodSession:
		return true
	}
	return false
}

// Principal is an authenticated caller. It is a value: authentication
// returns one, nothing mutates it afterwards.
type Principal struct {
	// Subject is the stable identifier of the caller (the `sub` claim,
	// or the owner subject of an API key). Never empty.
	Subject string
	// Method is how the caller authenticated.
	Method Method
	// KeyID is the id of the API key used, empty for other methods.
	KeyID string
	// Name is a human-readable name (the key's name, the user's name).
	Name string
	// Email is the caller's email address, when known.
	Email string
	// Scopes are the principal's scopes. Authentication returns those
	// the credential grants, as issued; the adapter then makes them the
	// effective scopes (adding what the configuration's grants give the
	// principal and what they imply) before any rule, header or audit
	// event reads them.
	Scopes []string
	// Groups are group or role names, when known.
	Groups []string

	// Issuer vouches for Subject (subjects are unique per issuer only):
	// the token's `iss` for MethodJWT, the OpenID provider's issuer for
	// MethodSession (when known), empty for MethodAPIKey.
	Issuer string
	// Audience is the token audience (`aud`) for MethodJWT.
	Audience []string
	// ClientID is the OAuth client the token was issued to (`client_id`,
	// else `azp`), when known.
	ClientID string
	// ExpiresAt is when the credential stops being valid (the token's
	// `exp`); zero when it does not expire.
	ExpiresAt time.Time
	// AuthTime is when the user last authenticated (`auth_time`), when known.
	AuthTime time.Time
	// ACR is the authentication context class reference (`acr`), when known.
	ACR string
	// AMR are the authentication methods references (`amr`), when known.
	AMR []string
	// Claims are the token's raw claims as decoded from JSON (numbers are
	// float64), for claim requirements; nil for methods without claims.
	// Shared between callers: read, never modify.
	Claims map[string]any
	// Provider names the login provider of a MethodSession principal
	// (the `oidc` block's name; "oidc" when it has none). With several
	// providers, Subject is namespaced as "<provider>:<sub>", so the same
	// `sub` at two providers never names one user.
	Provider string
	// SessionID identifies the browser session for MethodSession: a hash
	// of the session id (session.Session.IDHash), safe for logs and audit
	// events, never the ticket itself. Empty for other methods.
	SessionID string
	// RateLimit is the credential's own rate limit ("100/1m"), such as
	// an API key's: its own bucket, applied besides the route's zones.
	RateLimit string
	// RateBurst is the burst of RateLimit.
	RateBurst int
}
