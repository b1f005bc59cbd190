// Package caddymodule is the Caddy adapter of Portcullis: the
// `portcullis` app (identity shared by all routes), the
// `http.handlers.portcullis` handler (what one route requires), their
// Caddyfile syntax, and the mapping of core decisions to HTTP. The
// logic lives in plain-Go packages under internal/.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/alert"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/assertion"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `portcullis` Caddy app: the identity configuration shared
// by every route that uses the `portcullis` handler. It is configured
// with the `portcullis` global option in a Caddyfile.
type App struct {
	// Store holds shared state. Default: in memory.
	Store *StoreConfig `json:"store,omitempty"`
	// Session configures browser sessions.
	Session *SessionConfig `json:"session,omitempty"`
	// OIDC configures browser login at an OpenID Connect provider.
	OIDC *OIDCConfig `json:"oidc,omitempty"`
	// OIDCProviders configures browser login at several OpenID Connect
	// providers, each with a Name (the Caddyfile's `oidc <name> <issuer>`);
	// a login then offers a chooser unless the route or the user's email
	// domain picks one. Not together with OIDC.
	OIDCProviders []*OIDCConfig `json:"oidc_providers,omitempty"`
	// JWT lists the issuers whose bearer JWTs are trusted.
	JWT []JWTIssuerConfig `json:"jwt,omitempty"`
	// APIKeys configures API keys.
	APIKeys *APIKeysConfig `json:"api_keys,omitempty"`
	// Scopes declares scope implications.
	Scopes []ScopeConfig `json:"scopes,omitempty"`
	// KnownScopes declares scopes that imply nothing and that nothing
	// implies, so grants may name them (see GrantConfig).
	KnownScopes []string `json:"known_scopes,omitempty"`
	// Grants give scopes to sessions and JWTs by group or claim.
	Grants []GrantConfig `json:"grants,omitempty"`
	// MFA requires a second factor of some principals.
	MFA *MFAConfig `json:"mfa,omitempty"`
	// IdentityGroups limits the groups sent upstream. Default: all.
	IdentityGroups *IdentityGroupsConfig `json:"identity_groups,omitempty"`
	// RateLimits declares rate-limit zones that routes apply by name.
	RateLimits []RateLimitZoneConfig `json:"rate_limits,omitempty"`
	// Failures locks out client addresses that fail too many credential
	// checks. Default: wrong API keys only, 20 a minute, then one minute,
	// per replica (see FailuresConfig).
	Failures *FailuresConfig `json:"failures,omitempty"`
	// Resources declares protected resources (RFC 9728) such as MCP servers.
	Resources []ResourceConfig `json:"resources,omitempty"`
	// Assertion configures signed identity assertions for backends.
	Assertion *AssertionConfig `json:"assertion,omitempty"`
	// AuthorizationServer makes the gateway the OAuth authorization
	// server of the resources that name it (`authorization_servers
	// self`). Default: none.
	AuthorizationServer *AuthorizationServerConfig `json:"authorization_server,omitempty"`
	// UpstreamOAuth declares third-party OAuth providers whose tokens
	// signed-in users store in the credential vault, for routes with
	// `inject` (see UpstreamOAuthConfig).
	UpstreamOAuth []*UpstreamOAuthConfig `json:"upstream_oauth,omitempty"`
	// EndpointPrefix is the path under which Portcullis serves its own
	// endpoints (healthz, readyz, and the login endpoints) on every
	// route that uses the handler. Default: `/.portcullis/`.
	EndpointPrefix string `json:"endpoint_prefix,omitempty"`
	// Alerts are webhooks that receive security alerts (see AlertConfig).
	// Default: none.
	Alerts []AlertConfig `json:"alerts,omitempty"`

	alerts         *alert.Dispatcher // nil: no alerts
	store          store.Store
	storeKey       string
	keys           *apikey.Set
	hasher         apikey.Hasher
	registry       *apikey.Registry
	apiKeyHeader   string
	expiry         *expiryWarnings // nil: no warn_before
	implications   *policy.Implications
	authz          *appAuthz
	zones          map[string]ratelimit.Zone
	sessionKeys    [][]byte
	endpointPrefix string
	metrics        *metrics
	signer         *assertion.Signer
	resources      map[string]*resource
	limiter        ratelimit.Limiter
	limiterKey     string
	failures       *failureGuard
	lockoutKey     string
	keyLimitsOff   bool // token check: keys' own limits not applied
	verifier       *jwtauth.Verifier
	verifierKey    string
	sessions       *session.Manager
	sso            *loginProviders
	pages          *pages.Set
	vault          *upstreamVault
	authServer     *authServer
	audit          *zap.Logger
	logger         *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "portcullis",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision checks the configuration, resolves secrets and acquires the
// store. It does no network I/O: Redis is dialled on first use.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	// ctx.Logger() is named after this module ("portcullis") and writes
	// through the logging of the config being loaded.
	a.audit = ctx.Logger().Named("audit")
	if err := a.compile(); err != nil {
		return err
	}
	m, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	a.metrics = m
	if err := a.provisionAlerts(ctx); err != nil {
		return err
	}
	st, key, err := acquireStore(a.Store)
	if err != nil {
		return err
	}
	a.store, a.storeKey = st, key
	a.registry, err = apikey.NewRegistry(apikey.RegistryOptions{
		Static: a.keys, Store: a.store, Hasher: a.hasher, Prefix: a.keys.Prefix(),
		OnFlushError: func(err error) { a.logger.Warn("flushing api key last-used times", zap.Error(err)) },
	})
	if err != nil {
		return err
	}
	a.metrics.keyExpiry.watch(a.APIKeys.lifetimeOrZero(), a.keys, a.registry, func() { a.metrics.storeErrors.WithLabelValues("apikey").Inc() })
	if err := a.provisionAuthServer(ctx); err != nil {
		return err
	}
	if err := a.acquireVerifier(); err != nil {
		return err
	}
	if err := a.acquireLimiter(); err != nil {
		return err
	}
	if err := a.acquireFailures(); err != nil {
		return err
	}
	if err := a.setupSSO(); err != nil {
		return err
	}
	return a.setupVault()
}

// compile checks every block and builds the runtime state that does not
// depend on the store.
func (a *App) compile() error {
	a.endpointPrefix = a.EndpointPrefix
	if a.endpointPrefix == "" {
		a.endpointPrefix = DefaultEndpointPrefix
	}
	if err := checkEndpointPrefix(a.endpointPrefix); err != nil {
		return err
	}
	if a.Session != nil {
		keys, err := resolveSessionKeys(a.Session.Keys)
		if err != nil {
			return err
		}
		a.sessionKeys = keys
		if err := a.Session.checkTimeouts(); err != nil {
			return err
		}
	}
	cfgs, err := a.oidcConfigs()
	if err != nil {
		return err
	}
	for _, c := range cfgs {
		if err := c.check(a.Session != nil && a.Session.InsecureCookie); err != nil {
			return err
		}
		if err := checkIssuerName(c.Name); err != nil {
			return fmt.Errorf("oidc: provider %w", err)
		}
		if a.Session == nil {
			return errors.New("oidc: browser login needs a session block with keys")
		}
	}
	if a.Session != nil {
		if err := checkDomainProviders(a.Session.Domain, cfgs); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, j := range a.JWT {
		if err := j.check(); err != nil {
			return err
		}
		if seen[j.Issuer] {
			return fmt.Errorf("jwt: issuer %s is declared twice", j.Issuer)
		}
		seen[j.Issuer] = true
		if j.Name != "" { // names and URLs cannot collide: names have no ':'
			if seen[j.Name] {
				return fmt.Errorf("jwt: issuer name %s is used twice", j.Name)
			}
			seen[j.Name] = true
		}
	}
	if a.Assertion != nil {
		s, err := a.Assertion.signer()
		if err != nil {
			return err
		}
		a.signer = s
	}
	if err := a.compileResources(); err != nil {
		return err
	}
	if err := a.compileAuthServer(); err != nil {
		return err
	}
	if err := a.compileUpstreamOAuth(); err != nil {
		return err
	}
	if err := a.compileAPIKeys(); err != nil {
		return err
	}
	g, err := scopeGraph(a.Scopes)
	if err != nil {
		return err
	}
	if a.implications, err = policy.NewImplications(g); err != nil {
		return err
	}
	if err := a.compileAuthz(); err != nil {
		return err
	}
	a.zones = make(map[string]ratelimit.Zone, len(a.RateLimits))
	for _, zc := range a.RateLimits {
		z, err := zc.zone()
		if err != nil {
			return err
		}
		if _, dup := a.zones[z.Name]; dup {
			return fmt.Errorf("rate_limit: zone %s is declared twice", z.Name)
		}
		a.zones[z.Name] = z
	}
	return nil
}

func (a *App) compileAPIKeys() error {
	cfg := APIKeysConfig{}
	if a.APIKeys != nil {
		cfg = *a.APIKeys
	}
	prefix, err := cfg.prefix()
	if err != nil {
		return err
	}
	hasher, err := cfg.hasher()
	if err != nil {
		return err
	}
	recs := make([]apikey.Record, 0, len(cfg.Keys))
	for _, k := range cfg.Keys {
		r, err := k.record(hasher)
		if err != nil {
			return err
		}
		if r, err = k.withOwnLimit(r); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if a.keys, err = apikey.NewSet(prefix, hasher, recs, nil); err != nil {
		return err
	}
	if a.expiry, err = cfg.expiryWarnings(time.Now()); err != nil {
		return err
	}
	a.hasher = hasher
	a.apiKeyHeader = cfg.Header
	if a.apiKeyHeader != "" && a.logger != nil {
		a.logger.Warn("API keys are accepted in a header Caddy's access logs do not redact; add a log filter that deletes it to every site log",
			zap.String("header", a.apiKeyHeader), zap.String("filter", "format filter { request>headers>"+http.CanonicalHeaderKey(a.apiKeyHeader)+" delete }"))
	}
	return nil
}

// Start records the loaded configuration in the audit log.
func (a *App) Start() error {
	if c := a.audit.Check(zap.InfoLevel, string(audit.KindConfigLoaded)); c != nil {
		c.Write(zap.String("event", string(audit.KindConfigLoaded)), zap.String("result", string(audit.Info)),
			zap.Int("api_keys", a.keys.Len()), zap.String("store", storeKind(a.Store)),
			zap.Int("jwt_issuers", len(a.JWT)), zap.Int("rate_limit_zones", len(a.zones)))
	}
	return nil
}

// Stop is a no-op; pooled state is released in Cleanup.
func (a *App) Stop() error { return nil }

// Cleanup releases the store acquired by Provision. Caddy calls it
// after a failed Provision too.
func (a *App) Cleanup() error {
	a.cleanupAlerts()
	if a.registry != nil {
		_ = a.registry.Close()
		a.registry = nil
	}
	a.releaseFailures()
	if a.limiterKey != "" {
		_, _ = limiterPool.Delete(a.limiterKey)
		a.limiterKey, a.limiter = "", nil
	}
	if a.verifierKey != "" {
		_, _ = verifierPool.Delete(a.verifierKey)
		a.verifierKey, a.verifier = "", nil
	}
	if a.storeKey == "" {
		return nil
	}
	_, err := storePool.Delete(a.storeKey)
	a.storeKey, a.store = "", nil
	if err != nil {
		return fmt.Errorf("releasing store: %w", err)
	}
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
