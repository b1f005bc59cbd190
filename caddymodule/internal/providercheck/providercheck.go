// Package providercheck checks, over the network, what a gateway's
// configuration depends on, and says in plain words what is wrong: Redis
// answers PING; the OpenID provider's discovery document names the
// configured issuer byte for byte, publishes keys and endpoints the
// gateway can use, and the provider accepts the client and its
// redirect URI; JWT issuers publish keys for the algorithms the gateway
// accepts. It is the core of `portcullis check`, the online companion of
// `portcullis validate`; the adapter translates the configuration into a
// Config.
//
// Every finding is a Result: OK, WARN (works, but the operator should
// know), FAIL (logins or requests will fail; the detail names the cause)
// or SKIP (not checked, and why). Probes send only made-up codes and
// tokens, so they change nothing at the provider. Details never contain
// a secret: the client secret, Redis passwords and Config.Secrets are
// removed from every detail.
//
// The package is plain Go (no Caddy, no zap).
package providercheck

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// DefaultTimeout bounds each request (HTTP request or Redis PING) when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultEndpointPrefix is the path of the gateway's own endpoints when
// OIDC.EndpointPrefix is empty (the adapter's default).
const DefaultEndpointPrefix = "/.portcullis/"

// Config says what to check. The zero value checks nothing.
type Config struct {
	// Redis lists the Redis deployments to PING.
	Redis []Redis
	// OIDC are the browser-login providers; none when SSO is off.
	OIDC []OIDC
	// JWT lists the issuers of bearer JWTs.
	JWT []JWTIssuer
	// Timeout bounds each request. Default: DefaultTimeout.
	Timeout time.Duration
	// HTTPClient talks to providers and issuers. Default: a client with
	// Timeout. The authorization endpoint probe never follows redirects,
	// whatever the client's policy.
	HTTPClient *http.Client
	// Secrets are removed from every detail, besides the secrets the
	// other fields hold (client secret, Redis passwords).
	Secrets []string
}

// Redis is one Redis deployment to PING.
type Redis struct {
	// Name names it in the report. Default: its URL or addresses
	// without credentials.
	Name string
	// Config is how the gateway reaches it. Zero timeouts become the
	// check's Timeout (the gateway's 50ms request timeout is meant for
	// requests, not for a check that may run far from Redis).
	Config store.RedisConfig
}

// OIDC is the configuration of browser login at one OpenID provider, as
// the gateway uses it.
type OIDC struct {
	// Name is the provider's name among several (`oidc <name> <issuer>`);
	// empty for a single unnamed provider.
	Name string
	// Issuer is the configured issuer URL, compared byte for byte with
	// the discovery document's.
	Issuer string
	// ClientID is the gateway's client id at the provider.
	ClientID string
	// ClientSecret is the resolved client secret; empty for a public
	// client. Never printed.
	ClientSecret string
	// RedirectURL is the configured callback URL.
	RedirectURL string
	// PostLogoutRedirectURL is where the provider sends browsers after
	// logout; "" when none.
	PostLogoutRedirectURL string
	// Scopes requested at login. Default: the gateway's (openid email
	// profile).
	Scopes []string
	// Prompt values sent with every login. Default: consent when Scopes
	// include offline_access, as the gateway does.
	Prompt []string
	// Claims is the configured `claims` request parameter (JSON), or "".
	Claims string
	// AuthParams are the extra authorization request parameters.
	AuthParams map[string]string
	// DisableUserInfo: the gateway does not call the UserInfo endpoint.
	DisableUserInfo bool
	// DisableRevocation: logout does not revoke refresh tokens.
	DisableRevocation bool
	// EndpointPrefix is the path of the gateway's own endpoints (the
	// callback and back-channel logout live under it). Default:
	// DefaultEndpointPrefix.
	EndpointPrefix string
}

// JWTIssuer is one trusted issuer of bearer JWTs.
type JWTIssuer struct {
	// Issuer is the issuer URL (`iss`).
	Issuer string
	// JWKSURI is the configured key set URL; "" means discovery.
	JWKSURI string
	// Algorithms is the effective allow-list (defaults applied). When
	// it holds only HS* algorithms the issuer's keys are not fetched.
	Algorithms []string
}

// Run performs every check of cfg and returns the report: Redis first,
// then the OpenID provider, then the JWT issuers, each in configuration
// order. Components are checked concurrently; each request is bounded
// by cfg.Timeout and the whole run by ctx.
func Run(ctx context.Context, cfg Config) Report {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	secrets := append([]string(nil), cfg.Secrets...)
	var jobs []func() []Result
	for _, r := range cfg.Redis {
		secrets = append(secrets, r.Config.Password)
		secrets = append(secrets, urlPassword(r.Config.URL))
		jobs = append(jobs, func() []Result { return checkRedis(ctx, r, cfg.Timeout) })
	}
	for _, oc := range cfg.OIDC {
		secrets = append(secrets, oc.ClientSecret)
		o := &oidcCheck{cfg: oc, client: cfg.HTTPClient, timeout: cfg.Timeout}
		jobs = append(jobs, func() []Result { return o.run(ctx) })
	}
	for _, j := range cfg.JWT {
		jobs = append(jobs, func() []Result { return checkJWT(ctx, j, cfg.HTTPClient, cfg.Timeout) })
	}
	out := make([][]Result, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Go(func() { out[i] = job() })
	}
	wg.Wait()
	var rep Report
	for _, rs := range out {
		rep.Results = append(rep.Results, rs...)
	}
	for i := range rep.Results {
		rep.Results[i].Detail = redact(rep.Results[i].Detail, secrets)
	}
	return rep
}

// redact replaces every secret in s with "[redacted]". Empty and very
// short secrets are matched too: a garbled message is better than a
// leaked secret.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
