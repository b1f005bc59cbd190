// Package oidcflow is the OpenID Connect relying party of browser single
// sign-on: it starts logins (authorization code flow with PKCE S256,
// state and nonce), completes callbacks (code exchange, ID token
// verification, claims mapping), refreshes tokens for package session,
// builds RP-initiated logout URLs and verifies back-channel logout
// tokens. It also holds the small browser-facing helpers the adapter
// needs: return-URL validation (ReturnPolicy), browser-navigation
// detection and same-origin checks (the pages themselves are in package
// pages).
//
// Discovery is lazy: New does no network I/O; the first operation that
// needs the provider fetches its discovery document (bounded by
// Config.DiscoveryTimeout) and caches it; failures are retried with
// exponential backoff and reported as ErrUnavailable meanwhile.
//
// The package is plain Go (no Caddy, no zap). Errors start with
// "oidcflow: " and never contain a code, a token, a cookie or a secret.
package oidcflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Defaults of Config.
const (
	// DefaultFlowTTL is how long a started login may take.
	DefaultFlowTTL = 10 * time.Minute
	// DefaultHTTPTimeout bounds every request to the provider.
	DefaultHTTPTimeout = 10 * time.Second
	// DefaultDiscoveryTimeout bounds one discovery attempt.
	DefaultDiscoveryTimeout = 5 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// failed discovery attempts (doubling from min to max).
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultClockSkew is tolerated on auth_time and logout token iat.
	DefaultClockSkew = time.Minute
	// DefaultLogoutTokenMaxAge: logout tokens issued longer ago are refused.
	DefaultLogoutTokenMaxAge = 5 * time.Minute
	// DefaultKeyCooldown: tokens signed with unknown key ids trigger at
	// most one JWKS refetch per this interval; a genuine token with a new
	// key waits for that refetch rather than failing.
	DefaultKeyCooldown = 5 * time.Second
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "email", "profile"}

// DefaultGroupsClaims are read for groups when Config.GroupsClaims is empty.
var DefaultGroupsClaims = []string{"groups"}

// Config configures a Client. Issuer, ClientID, RedirectURL, Keys and
// Store are required.
type Config struct {
	// Issuer is the provider's issuer URL; it MUST equal the `iss` of its
	// tokens and of its discovery document.
	Issuer string
	// ClientID is this gateway's client id at the provider.
	ClientID string
	// ClientSecret is the client secret; empty for a public client (PKCE
	// protects the flow either way). Never logged.
	ClientSecret string
	// RedirectURL is the exact callback URL registered at the provider
	// (absolute, ending in /.portcullis/callback); sent unchanged.
	RedirectURL string
	// Return says which absolute URLs a login may return to (hosts of the
	// session cookie's domain); paths are always allowed. Default: paths
	// only.
	Return ReturnPolicy
	// PostLogoutRedirectURL is where the provider sends the browser after
	// RP-initiated logout (registered at the provider). Optional.
	PostLogoutRedirectURL string
	// Scopes requested at login. Default: DefaultScopes; "openid" is
	// added when missing. Add "offline_access" for refresh tokens at
	// providers that need it (Prompt then defaults to consent).
	Scopes []string
	// Prompt is sent as `prompt` with every login, joined by spaces.
	// Default: ["consent"] when Scopes include offline_access (OpenID
	// Connect Core §11: a provider MUST ignore offline_access without
	// it), else nothing. Step-up adds "login". "none" is refused: an
	// interactive login cannot be silent.
	Prompt []string
	// ClaimsRequest is the `claims` parameter (OIDC Core §5.5), a JSON
	// object, or "". When the provider supports the parameter, the
	// gateway adds {"id_token":{"auth_time":{"essential":true}}} to it, so
	// sessions know when the user authenticated (for max_age rules).
	ClaimsRequest string
	// AuthParams are extra authorization request parameters (provider
	// specific, such as access_type or hd). Parameters the protocol sets
	// are refused: see ReservedAuthParams.
	AuthParams map[string]string
	// DisableUserInfo skips the UserInfo endpoint after the code exchange
	// and refresh: claims then come from the ID token alone.
	DisableUserInfo bool
	// DisableRevocation keeps RevokeTokens from calling the provider's
	// revocation endpoint.
	DisableRevocation bool
	// OnProblem, when set, is told of each failure to reach or trust the
	// provider once (see Problem). It must be quick and safe for
	// concurrent use.
	OnProblem func(Problem)
	// GroupsClaims are the claims (ID token and UserInfo) read for groups/roles, in
	// order, all merged: a claim may be a string, a list of strings, or
	// an object whose keys are the names (as Zitadel's role claims). A
	// name that is not a top-level claim is tried as a dotted path
	// ("realm_access.roles"). Default: DefaultGroupsClaims.
	GroupsClaims []string
	// Keys protect the flow cookie (the session keys; derivation is
	// separated by purpose). Each at least session.MinKeyBytes.
	Keys [][]byte
	// Store records each flow's state for single use.
	Store store.Store
	// KeyPrefix prefixes store keys. Default: session.DefaultKeyPrefix.
	KeyPrefix string
	// Cookie supplies Insecure for the flow cookie (its name and SameSite
	// are fixed: the session cookie name plus "-flow-…", Lax).
	Cookie session.CookieConfig
	// FlowTTL bounds the time between StartLogin and Callback. Default:
	// DefaultFlowTTL.
	FlowTTL time.Duration
	// HTTPClient talks to the provider. Default: a client with
	// DefaultHTTPTimeout.
	HTTPClient *http.Client
	// DiscoveryTimeout bounds one discovery attempt. Default:
	// DefaultDiscoveryTimeout.
	DiscoveryTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed discovery
	// attempts. Defaults: DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// ClockSkew tolerated on the times of ID tokens, logout tokens and
	// signed UserInfo (exp, iat, nbf), auth_time and the flow cookie. Nil:
	// DefaultClockSkew; a pointer to 0 checks the times exactly.
	ClockSkew *time.Duration
	// LogoutTokenMaxAge refuses older back-channel logout tokens (by
	// iat). Default: DefaultLogoutTokenMaxAge.
	LogoutTokenMaxAge time.Duration
	// KeyCooldown limits JWKS refetches for unknown key ids (see
	// jwtauth.Options.UnknownKeyCooldown, whose key cache ID and logout
	// tokens use). Default: DefaultKeyCooldown.
	KeyCooldown time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// After is the timer of the Now clock (a channel that receives once d
	// has passed), with which a token under a new key waits for the next
	// allowed JWKS refetch. Default: time.After.
	After func(d time.Duration) <-chan time.Time
}

// Client is the relying party for one provider. Create it with New; it is
// safe for concurrent use and meant to be long-lived (it caches the
// discovery document and the provider's keys).
type Client struct {
	cfg     Config
	codecs  []securecookie.Codec
	cookie  session.CookieConfig
	flowPfx string // flow cookie name prefix
	now     func() time.Time
	disc    discovery

	skew     time.Duration // Config.ClockSkew resolved
	params   loginParams   // fixed authorization request parameters
	problems problems
}

// New checks cfg and returns a Client. It does no network I/O.
func New(cfg Config) (*Client, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("oidcflow: "+format, a...)) }
	if u, err := url.Parse(cfg.Issuer); cfg.Issuer == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		bad("client_id is required")
	}
	if u, err := url.Parse(cfg.RedirectURL); cfg.RedirectURL == "" || err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
		bad("redirect_url %q must be an absolute URL without fragment", cfg.RedirectURL)
	}
	if cfg.PostLogoutRedirectURL != "" {
		if u, err := url.Parse(cfg.PostLogoutRedirectURL); err != nil || !u.IsAbs() {
			bad("post_logout_redirect_url %q must be an absolute URL", cfg.PostLogoutRedirectURL)
		}
	}
	if cfg.Store == nil {
		bad("a store is required")
	}
	skew := DefaultClockSkew
	if cfg.ClockSkew != nil {
		skew = *cfg.ClockSkew
	}
	for _, d := range []time.Duration{cfg.FlowTTL, cfg.DiscoveryTimeout, cfg.MinBackoff, cfg.MaxBackoff, skew, cfg.LogoutTokenMaxAge, cfg.KeyCooldown} {
		if d < 0 {
			bad("durations must not be negative")
			break
		}
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = session.DefaultKeyPrefix
	}
	if err := store.ValidatePrefix(cfg.KeyPrefix); err != nil {
		bad("%v", err)
	}
	cfg.FlowTTL = orDefault(cfg.FlowTTL, DefaultFlowTTL)
	cfg.DiscoveryTimeout = orDefault(cfg.DiscoveryTimeout, DefaultDiscoveryTimeout)
	cfg.MinBackoff = orDefault(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.LogoutTokenMaxAge = orDefault(cfg.LogoutTokenMaxAge, DefaultLogoutTokenMaxAge)
	cfg.KeyCooldown = orDefault(cfg.KeyCooldown, DefaultKeyCooldown)
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if !slices.Contains(cfg.Scopes, "openid") {
		cfg.Scopes = append([]string{"openid"}, cfg.Scopes...)
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)
	params, perr := authParams(cfg)
	if perr != nil {
		errs = append(errs, perr)
	}
	if len(cfg.GroupsClaims) == 0 {
		cfg.GroupsClaims = DefaultGroupsClaims
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	codecs, err := session.DeriveCodecs(cfg.Keys, "login-flow", 0)
	if err != nil {
		errs = append(errs, fmt.Errorf("oidcflow: flow cookie: %w", err))
	}
	cookie := session.CookieConfig{Insecure: cfg.Cookie.Insecure, Name: cfg.Cookie.Name}
	if cookie.Name == "" {
		cookie.Name = session.DefaultCookieName
		if cookie.Insecure {
			cookie.Name = session.DefaultInsecureCookieName
		}
	}
	if cookie.Insecure && (strings.HasPrefix(strings.ToLower(cookie.Name), "__host-") || strings.HasPrefix(strings.ToLower(cookie.Name), "__secure-")) {
		bad("cookie name %q needs the Secure attribute; do not combine it with insecure cookies", cookie.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		codecs:   codecs,
		cookie:   cookie,
		flowPfx:  cookie.Name + "-flow-",
		now:      cfg.Now,
		skew:     skew,
		params:   params,
		problems: problems{notify: cfg.OnProblem},
	}
	c.disc.init(c)
	return c, nil
}

// orDefault returns d for a zero v.
func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

// flowKey is the store key of a flow's single-use state record.
func (c *Client) flowKey(state string) string {
	return store.Key(c.cfg.KeyPrefix, "st", hashString("state", state))
}

// jtiKey is the store key remembering a processed logout token.
func (c *Client) jtiKey(issuer, jti string) string {
	return store.Key(c.cfg.KeyPrefix, "jti", hashString("jti", issuer+"\x00"+jti))
}
