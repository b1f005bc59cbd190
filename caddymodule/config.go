package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
)

// StoreConfig selects where shared state (sessions, API keys, rate
// limits) lives. Omitted, or with neither URL nor Addresses, state is
// kept in memory: fine for one instance, lost on restart, not shared
// between replicas.
type StoreConfig struct {
	// URL of a Redis server: `redis://[user:password@]host:port/db` or
	// `rediss://…` for TLS. With Cluster set, the URL names one seed
	// node and `?addr=host:port` adds more. Prefer the Password field
	// (with a placeholder) to a password in the URL.
	URL string `json:"url,omitempty"`
	// Addresses of Redis nodes, as an alternative to URL: several
	// addresses with Cluster set for Redis Cluster, Sentinel addresses
	// with MasterName set.
	Addresses []string `json:"addresses,omitempty"`
	// Cluster selects the Redis Cluster protocol. Default: false.
	Cluster bool `json:"cluster,omitempty"`
	// MasterName selects Redis Sentinel and names the monitored master.
	MasterName string `json:"master_name,omitempty"`
	// Username for Redis ACL authentication. Placeholders allowed.
	Username string `json:"username,omitempty"`
	// Password for Redis authentication. Use a placeholder such as
	// `{env.REDIS_PASSWORD}` or `{file./run/secrets/redis}`; an unset
	// variable is a configuration error.
	Password string `json:"password,omitempty"`
	// DB is the Redis database number (standalone and Sentinel only).
	// Default: 0.
	DB int `json:"db,omitempty"`
	// TLS enables TLS to Redis (implied by a rediss:// URL).
	TLS bool `json:"tls,omitempty"`
	// TLSCAFile is a PEM file of CAs that sign the Redis server
	// certificate. Default: the system roots.
	TLSCAFile string `json:"tls_ca_file,omitempty"`
	// TLSServerName overrides the name checked in the server certificate.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// DialTimeout bounds connecting to Redis. Default: 1s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
	// Timeout bounds each Redis read and write, and each rate-limit round
	// trip, so a slow Redis cannot stall requests. Default: 50ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// PoolSize is the number of connections per node. Default: go-redis's
	// (10 per CPU).
	PoolSize int `json:"pool_size,omitempty"`
}

// SessionConfig configures browser sessions.
type SessionConfig struct {
	// Keys protect session cookies. Each entry is a key of at least 32
	// bytes, or a placeholder (`{env.SESSION_KEYS}`) that expands to one
	// or more keys separated by spaces or commas. The first key signs
	// and encrypts new cookies; the others are still accepted, which is
	// how keys are rotated without logging everyone out. Required.
	Keys []string `json:"keys,omitempty"`
	// CookieName is the session cookie's name. Default: `__Host-portcullis`.
	CookieName string `json:"cookie_name,omitempty"`
	// IdleTimeout ends a session not used for this long. Default: 1h.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`
	// AbsoluteTimeout ends a session this long after login, however
	// active. Default: 12h.
	AbsoluteTimeout caddy.Duration `json:"absolute_timeout,omitempty"`
	// SameSite is the cookie's SameSite attribute: `strict` or `lax`.
	// Default: strict.
	SameSite string `json:"same_site,omitempty"`
	// InsecureCookie drops the Secure attribute so sessions work over
	// plain http. Local development only; logged loudly. Default: false.
	InsecureCookie bool `json:"insecure_cookie,omitempty"`
	// Domain shares the session across the hosts of a domain
	// (`example.com`: app.example.com, api.example.com …): the cookie
	// gets that Domain attribute and the `__Secure-` prefix. Logins then
	// go through the auth host, the host of the providers' redirect_url
	// (which must be in the domain), and return to the host they began
	// on. Default: none (a host-only `__Host-` cookie).
	Domain string `json:"domain,omitempty"`
	// ReturnHosts are further hosts a login may return to, outside the
	// domain. Default: none.
	ReturnHosts []string `json:"return_hosts,omitempty"`
	// RememberMe is the absolute lifetime of a session whose user asked
	// to be remembered (the chooser's checkbox, or `remember=1` on the
	// login URL). Default: 0, remember-me off. Must not be shorter than
	// AbsoluteTimeout.
	RememberMe caddy.Duration `json:"remember_me,omitempty"`
	// RememberMeIdle is a remembered session's idle timeout. Default:
	// IdleTimeout.
	RememberMeIdle caddy.Duration `json:"remember_me_idle,omitempty"`
	// Pages is a directory of templates replacing the built-in login
	// chooser, landing, sign-out and error pages (chooser.html,
	// landing.html, signout.html, redirect.html, error.html; any subset).
	Pages string `json:"pages,omitempty"`
}

// OIDCConfig configures browser login at one OpenID Connect provider.
type OIDCConfig struct {
	// Name identifies the provider among several (`oidc <name> <issuer>`):
	// 1 to 64 letters, digits, '.', '_' or '-'. Sessions remember it, the
	// upstream gets it in X-Auth-Provider, routes pin it with `providers`,
	// and subjects are namespaced with it ("<name>:<sub>") when there are
	// several providers. Default (one provider): "oidc".
	Name string `json:"name,omitempty"`
	// Label is what the login chooser shows. Default: the name.
	Label string `json:"label,omitempty"`
	// EmailDomains route logins whose login_hint is an address in one of
	// these domains to this provider without the chooser.
	EmailDomains []string `json:"email_domains,omitempty"`
	// Issuer is the provider's issuer URL (https, or http on loopback).
	// Discovery is fetched lazily from `<issuer>/.well-known/openid-configuration`.
	Issuer string `json:"issuer,omitempty"`
	// ClientID is this gateway's client id at the provider. Required.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the client secret; empty for a public client
	// (PKCE is used either way). Use a placeholder.
	ClientSecret string `json:"client_secret,omitempty"`
	// RedirectURL is the exact callback URL registered at the provider,
	// ending in `/.portcullis/callback`.
	RedirectURL string `json:"redirect_url,omitempty"`
	// Scopes requested at login. Default: openid email profile.
	Scopes []string `json:"scopes,omitempty"`
	// PostLogoutRedirectURL is where the provider sends the browser after
	// logout; it must be registered at the provider. Default: none.
	PostLogoutRedirectURL string `json:"post_logout_redirect_url,omitempty"`
	// GroupsClaims are the claims (of the ID token and UserInfo) read as
	// groups or roles. Default: groups.
	GroupsClaims []string `json:"groups_claims,omitempty"`
	// DisableUserInfo stops the gateway from calling the provider's
	// UserInfo endpoint after login and refresh; claims then come from the
	// ID token only. Default: false (UserInfo is called whenever the
	// provider has one, as OpenID Connect Core §5.4 expects for profile,
	// email and groups).
	DisableUserInfo bool `json:"disable_userinfo,omitempty"`
	// Prompt values sent with every login (`prompt`, OIDC Core §3.1.2.1),
	// such as `consent` or `select_account`. Default: `consent` when the
	// scopes include offline_access (OIDC Core §11 requires it for a
	// refresh token), else none. `none` alone is refused.
	Prompt []string `json:"prompt,omitempty"`
	// Claims is the `claims` request parameter (OIDC Core §5.5), a JSON
	// object such as `{"id_token":{"groups":null}}`. The gateway adds a
	// request for auth_time when the provider supports the parameter.
	Claims string `json:"claims,omitempty"`
	// AuthParams are extra authorization request parameters for this
	// provider (for example `access_type offline` or `hd example.com`).
	// Parameters the protocol sets (client_id, redirect_uri, state,
	// nonce, code_challenge…, scope, prompt, claims) are refused here.
	AuthParams map[string]string `json:"auth_params,omitempty"`
	// LoginHintPassthrough passes `login_hint` from the login URL
	// (`/.portcullis/login?login_hint=…`) to the provider. Default: false.
	LoginHintPassthrough bool `json:"login_hint_passthrough,omitempty"`
	// ClockSkew tolerated on ID token, logout token and auth_time times.
	// Default (unset): 60s; an explicit 0 checks them exactly.
	ClockSkew *caddy.Duration `json:"clock_skew,omitempty"`
	// DisableRevocation keeps logout from revoking the session's refresh
	// token at the provider (RFC 7009). Default: false (revoked whenever
	// the provider has a revocation_endpoint).
	DisableRevocation bool `json:"disable_revocation,omitempty"`
}

// JWTIssuerConfig trusts bearer JWTs from one issuer.
type JWTIssuerConfig struct {
	// Issuer must equal the tokens' `iss` claim (https, or http on loopback).
	Issuer string `json:"issuer,omitempty"`
	// Name is a short name routes use in `issuers` instead of the issuer
	// URL: 1 to 64 letters, digits, '.', '_' or '-', unique among the
	// issuers. Default: none (routes name the issuer by its URL).
	Name string `json:"name,omitempty"`
	// JWKSURI is where the issuer's keys are fetched. Default: from the
	// issuer's discovery document.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// Audiences: a token must name at least one in its `aud` claim. Required.
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms accepted. Default: RS256 PS256 ES256 EdDSA Ed25519 (RFC
	// 9864's name for EdDSA with Ed25519). `none` is
	// never accepted.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClockSkew tolerated on exp, nbf and iat, as a duration. Default
	// (unset): 60s. An explicit 0 means none: the times are checked
	// exactly.
	ClockSkew *caddy.Duration `json:"clock_skew,omitempty"`
	// RequireATJWT accepts only tokens whose header says `typ: at+jwt`
	// (RFC 9068 access tokens), so ID tokens cannot be replayed as
	// access tokens. Default: false.
	RequireATJWT bool `json:"require_at_jwt,omitempty"`
	// GroupsClaims are the claims read as groups or roles. Default: groups.
	GroupsClaims []string `json:"groups_claims,omitempty"`
	// RequiredClaims must be present with these values in every token
	// of this issuer (e.g. `email_verified true`).
	RequiredClaims []ClaimConfig `json:"required_claims,omitempty"`
	// SharedSecret allows HS256/HS384/HS512 for this issuer, verified
	// with this secret only (never with the issuer's public keys). Use a
	// placeholder; at least 32 bytes. Default: none (HS* refused).
	SharedSecret string `json:"shared_secret,omitempty"`
}

// APIKeysConfig configures API keys.
type APIKeysConfig struct {
	// Prefix of issued keys (`<prefix>_<id>_<secret>`). Default: `pcl`.
	Prefix string `json:"prefix,omitempty"`
	// Pepper, when set, makes stored hashes HMAC-SHA256 keyed by it
	// rather than plain SHA-256. Use a placeholder; at least 32 bytes.
	Pepper string `json:"pepper,omitempty"`
	// Header is a request header that may carry a key besides
	// `Authorization: Bearer`, e.g. `X-API-Key`. Default: none (a key sent
	// in X-API-Key is refused with 400 and a hint). Caddy's access logs
	// redact Authorization but not this header: with it set, add a log
	// filter (`format filter { request>headers>X-Api-Key delete }`) to
	// every `log` of the sites that use it, or keys reach the logs.
	Header string `json:"header,omitempty"`
	// Keys declared statically, in hashed form only (see
	// `portcullis apikey hash`).
	Keys []APIKeyConfig `json:"keys,omitempty"`
	// MaxLifetime caps how long a key may be valid: a static key must
	// have `expires` no further than this from when the configuration
	// is loaded, and `apikey create --expires` no further than this from
	// now. Default: no cap.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`
	// WarnBefore is the warning window before a key's expiry: answers
	// to the key carry `Deprecation` (RFC 9745) and `Sunset` (RFC 8594)
	// headers, an `api_key_expiring` audit event is written once a day
	// per key (per replica), and `apikey list` marks it. Must be shorter
	// than MaxLifetime. Default: none (no warnings).
	WarnBefore caddy.Duration `json:"warn_before,omitempty"`
	// RotationDoc is an http(s) URL explaining how to rotate a key; it
	// is sent as `Link: <url>; rel="deprecation"` with the warnings.
	// Default: none.
	RotationDoc string `json:"rotation_doc,omitempty"`
}

// APIKeyConfig is one statically declared API key.
type APIKeyConfig struct {
	// ID is the key id (the middle part of the key). Required, unique.
	ID string `json:"id,omitempty"`
	// Hash is the stored hash printed by `portcullis apikey hash`. Required.
	Hash string `json:"hash,omitempty"`
	// Subject the key acts for (becomes `{http.auth.user.id}`). Required.
	Subject string `json:"subject,omitempty"`
	// Name is a human-readable label.
	Name string `json:"name,omitempty"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes,omitempty"`
	// Expires is an RFC 3339 time after which the key is refused.
	// Default: never.
	Expires string `json:"expires,omitempty"`
	// RateLimit is the key's own rate limit, `<count>/<period>` such as
	// `100/1m`: one bucket per key, applied on every route that accepts
	// the key, besides the route's zones, shared by every replica with
	// Redis. Default: none.
	RateLimit string `json:"rate_limit,omitempty"`
	// Burst is how many requests the key may make at once above
	// RateLimit's pace. Default: 0. Needs RateLimit.
	Burst int `json:"burst,omitempty"`
}

// ScopeConfig declares that holding one scope grants others.
type ScopeConfig struct {
	// Name of the scope that grants.
	Name string `json:"name,omitempty"`
	// Implies lists the scopes granted with it (transitively).
	Implies []string `json:"implies,omitempty"`
}

// RateLimitZoneConfig declares a named rate limit that routes apply.
type RateLimitZoneConfig struct {
	// Name of the zone, used by routes. Required, unique.
	Name string `json:"name,omitempty"`
	// Rate as `<count>/<period>`, e.g. `100/1m`. Required.
	Rate string `json:"rate,omitempty"`
	// Burst allowed above the sustained rate. Default: 0.
	Burst int `json:"burst,omitempty"`
	// Key template selecting the bucket. Default: `{http.auth.user.id}`
	// (an empty key falls back to the client IP).
	Key string `json:"key,omitempty"`
	// OnError is what the zone answers while Redis is unreachable:
	// `deny` (fail closed, 503) or `allow` (fail open). Default: deny.
	OnError string `json:"on_error,omitempty"`
}
