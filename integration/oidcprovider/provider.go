// Package oidcprovider runs a real OpenID Connect provider in process, for
// end-to-end tests. It is github.com/zitadel/oidc/v3's op package served on a
// loopback listener (127.0.0.2 by default, a different site from a gateway
// on 127.0.0.1), backed by an in-memory storage, with a minimal login page.
//
// Tests declare users and clients (also after start), then drive a browser
// or an HTTP client against it. The provider supports discovery, the
// authorization code flow with PKCE (S256, required for public clients) and
// nonce, refresh tokens (offline_access, with rotation), client_credentials,
// userinfo, JWKS with key rotation, RP-initiated logout with back-channel
// logout, token revocation and introspection. Access tokens are JWTs with the
// JOSE header typ "at+jwt" (RFC 9068) unless configured otherwise.
//
// Tests can count requests per path (Hits) and simulate an outage (SetDown).
//
// The provider has two profiles (see Profile): Lenient, the default, puts
// every user claim into every token; Strict behaves like a provider that
// follows OpenID Connect to the letter (claims only at userinfo, refresh
// tokens only after consent, RFC 9207 iss, auth_time only when asked,
// Ed25519 signatures). It records the authorization requests it received
// (AuthRequests) and the revocation requests (Revocations).
package oidcprovider

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the endpoints served by the op package.
const (
	PathDiscovery  = oidc.DiscoveryEndpoint // "/.well-known/openid-configuration"
	PathAuthorize  = "/authorize"
	PathToken      = "/oauth/token"
	PathUserinfo   = "/userinfo"
	PathJWKS       = "/keys"
	PathEndSession = "/end_session"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/revoke"
)

// Defaults of Config.
const (
	DefaultAddr                 = "127.0.0.2:0"
	DefaultIDTokenLifetime      = 5 * time.Minute
	DefaultAccessTokenLifetime  = 5 * time.Minute
	DefaultRefreshTokenLifetime = time.Hour
	DefaultAccessTokenJWTType   = "at+jwt"
)

// Config configures a Provider. The zero value is usable.
type Config struct {
	// Addr is the listen address; default DefaultAddr (127.0.0.2, any port).
	Addr string
	// IDTokenLifetime is the default ID token lifetime (Client may override).
	IDTokenLifetime time.Duration
	// AccessTokenLifetime is the default access token lifetime.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the default refresh token lifetime.
	RefreshTokenLifetime time.Duration
	// AccessTokenJWTType is the JOSE "typ" of JWT access tokens; default
	// "at+jwt". "JWT" keeps what the op package signs, untouched.
	AccessTokenJWTType string
	// Profile selects lenient (the default) or strict OpenID Connect
	// behaviour; see Profile.
	Profile Profile
	// IDTokenAlg is the JOSE "alg" of the signing keys, hence of ID tokens,
	// JWT access tokens and logout tokens: AlgRS256, AlgES256 or AlgEd25519.
	// Empty means AlgRS256 in the Lenient profile and AlgEd25519 in Strict.
	IDTokenAlg string
	// NoRevocation removes the revocation endpoint (RFC 7009): discovery
	// does not name it and PathRevoke answers 404.
	NoRevocation bool
	// NoBackChannelLogout makes the provider not support back-channel
	// logout: discovery does not advertise it and no logout token is sent,
	// even to clients with a BackChannelLogoutURI.
	NoBackChannelLogout bool
	// Users and Clients are registered before the provider starts.
	Users   []User
	Clients []Client
	// Logf receives the provider's own diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Option changes a Config; see Start.
type Option func(*Config)

// WithAddr sets Config.Addr.
func WithAddr(addr string) Option { return func(c *Config) { c.Addr = addr } }

// WithIDTokenLifetime sets Config.IDTokenLifetime.
func WithIDTokenLifetime(d time.Duration) Option { return func(c *Config) { c.IDTokenLifetime = d } }

// WithAccessTokenLifetime sets Config.AccessTokenLifetime.
func WithAccessTokenLifetime(d time.Duration) Option {
	return func(c *Config) { c.AccessTokenLifetime = d }
}

// WithRefreshTokenLifetime sets Config.RefreshTokenLifetime.
func WithRefreshTokenLifetime(d time.Duration) Option {
	return func(c *Config) { c.RefreshTokenLifetime = d }
}

// WithAccessTokenJWTType sets Config.AccessTokenJWTType.
func WithAccessTokenJWTType(typ string) Option {
	return func(c *Config) { c.AccessTokenJWTType = typ }
}

// WithIDTokenAlg sets Config.IDTokenAlg (AlgRS256, AlgES256 or AlgEd25519).
func WithIDTokenAlg(alg string) Option { return func(c *Config) { c.IDTokenAlg = alg } }

// WithoutRevocation sets Config.NoRevocation.
func WithoutRevocation() Option { return func(c *Config) { c.NoRevocation = true } }

// WithoutBackChannelLogout sets Config.NoBackChannelLogout.
func WithoutBackChannelLogout() Option { return func(c *Config) { c.NoBackChannelLogout = true } }

// WithUsers adds users to Config.Users.
func WithUsers(users ...User) Option {
	return func(c *Config) { c.Users = append(c.Users, users...) }
}

// WithClients adds clients to Config.Clients.
func WithClients(clients ...Client) Option {
	return func(c *Config) { c.Clients = append(c.Clients, clients...) }
}

// Provider is a running OpenID Connect provider. All methods are safe for
// concurrent use.
type Provider struct {
	issuer     string
	profile    Profile
	atType     string // Config.AccessTokenJWTType
	store      *store
	op         *op.Provider
	authorizer op.Authorizer // p.op, or the strict profile's issAuthorizer
	srv        *http.Server
	mux        *http.ServeMux
	logf       func(string, ...any)
	tokenLog   tokenRequestLog

	down      atomic.Bool
	hitsMu    sync.Mutex
	hits      map[string]int
	closeOnce sync.Once
	closeErr  error
}

// Start starts a provider for the test and stops it in t.Cleanup. It fails
// the test if the provider cannot start. Diagnostics go to t.Logf.
func Start(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	var closed atomic.Bool
	cfg := Config{Logf: func(format string, args ...any) {
		if !closed.Load() { // t.Logf panics once the test is over
			t.Logf(format, args...)
		}
	}}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("oidcprovider: starting provider: %v", err)
	}
	t.Cleanup(func() {
		closed.Store(true)
		if err := p.Close(); err != nil {
			t.Errorf("oidcprovider: closing provider: %v", err)
		}
	})
	return p
}

// New starts a provider with cfg; Close stops it.
func New(cfg Config) (*Provider, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.AccessTokenJWTType == "" {
		cfg.AccessTokenJWTType = DefaultAccessTokenJWTType
	}
	if cfg.IDTokenAlg == "" {
		cfg.IDTokenAlg = cfg.Profile.defaultAlg()
	}
	lt := lifetimes{
		idToken:      pick(cfg.IDTokenLifetime, DefaultIDTokenLifetime),
		accessToken:  pick(cfg.AccessTokenLifetime, DefaultAccessTokenLifetime),
		refreshToken: pick(cfg.RefreshTokenLifetime, DefaultRefreshTokenLifetime),
	}
	keys, err := newKeyRing(cfg.IDTokenAlg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	p := &Provider{
		issuer:  "http://" + ln.Addr().String(),
		profile: cfg.Profile,
		atType:  cfg.AccessTokenJWTType,
		logf:    cfg.Logf,
		hits:    map[string]int{},
	}
	p.store = newStore(keys, lt, cfg.Logf)
	p.store.issuer = p.issuer
	p.store.strict = cfg.Profile == Strict
	p.store.noBackChannel = cfg.NoBackChannelLogout
	p.store.loginURL = func(id string) string { return p.issuer + PathLogin + "?authRequestID=" + id }
	for _, u := range cfg.Users {
		p.AddUser(u)
	}
	for _, c := range cfg.Clients {
		p.AddClient(c)
	}
	if p.op, err = newOP(p.issuer, p.store, cfg); err != nil {
		_ = ln.Close()
		return nil, err
	}
	p.authorizer = p.op
	if cfg.Profile == Strict {
		p.authorizer = issAuthorizer{Provider: p.op, issuer: p.issuer}
	}
	p.mux = p.routes(cfg)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && p.logf != nil {
			p.logf("oidcprovider: serving: %v", err)
		}
	}()
	return p, nil
}

// routes builds the provider's handler tree: the op package serves every
// path that is not routed to the provider's own pages or wrappers.
func (p *Provider) routes(cfg Config) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(PathLogin, p.handleLogin)
	mux.HandleFunc(PathLoggedOut, p.handleLoggedOut)
	mux.Handle(PathToken, p.withTokenLog(p.withTokenRewrite(p.op)))
	mux.Handle(PathEndSession, withEndSession(p.op))
	var authorize http.Handler = p.op
	if cfg.Profile == Strict {
		authorize = http.HandlerFunc(p.serveAuthorize)
		mux.HandleFunc(pathAuthorizeCallback, p.serveAuthorizeCallback)
	}
	mux.Handle(PathAuthorize, p.withAuthRequestLog(authorize))
	if cfg.NoRevocation {
		mux.Handle(PathRevoke, http.NotFoundHandler())
	} else {
		mux.Handle(PathRevoke, p.withRevocationLog(p.op))
	}
	if edit := discoveryEdits(cfg); edit != nil {
		mux.Handle(PathDiscovery, withDiscoveryEdit(edit, p.op, p.logf))
	}
	mux.Handle("/", p.op)
	return mux
}

// newOP builds the op.Provider over the store. Presented tokens
// (access tokens, id_token_hint) are verified against the published keys
// under the provider's alg only.
func newOP(issuer string, s *store, cfg Config) (*op.Provider, error) {
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("generating token encryption key: %w", err)
	}
	config := &op.Config{
		CryptoKey:                         cryptoKey,
		DefaultLogoutRedirectURI:          issuer + PathLoggedOut,
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedScopes:                   append(append([]string(nil), op.DefaultSupportedScopes...), "groups"),
		SupportedClaims:                   append(append([]string(nil), op.DefaultSupportedClaims...), "groups", "sid", "scope"),
		BackChannelLogoutSupported:        !cfg.NoBackChannelLogout,
		BackChannelLogoutSessionSupported: !cfg.NoBackChannelLogout,
	}
	keySet := publishedKeySet{s.keys}
	p, err := op.NewProvider(config, s, op.StaticIssuer(issuer),
		op.WithAllowInsecure(),
		op.WithAccessTokenKeySet(keySet),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(s.keys.alg)),
		op.WithIDTokenHintKeySet(keySet),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(s.keys.alg)),
		op.WithCustomEndpoints(
			op.NewEndpoint(PathAuthorize), op.NewEndpoint(PathToken), op.NewEndpoint(PathUserinfo),
			op.NewEndpoint(PathRevoke), op.NewEndpoint(PathEndSession), op.NewEndpoint(PathJWKS)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
	)
	if err != nil {
		return nil, fmt.Errorf("creating OpenID provider: %w", err)
	}
	return p, nil
}

// ServeHTTP counts the request, answers 503 while the provider is down, and
// otherwise serves it.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hitsMu.Lock()
	p.hits[r.URL.Path]++
	p.hitsMu.Unlock()
	if p.down.Load() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "identity provider unavailable (simulated outage)", http.StatusServiceUnavailable)
		return
	}
	p.mux.ServeHTTP(w, r)
}

// Close stops the provider. It is idempotent.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		if err := p.srv.Close(); err != nil {
			p.closeErr = fmt.Errorf("closing provider server: %w", err)
		}
	})
	return p.closeErr
}

// Issuer returns the issuer URL, http://127.0.0.2:PORT (no trailing slash).
func (p *Provider) Issuer() string { return p.issuer }

// DiscoveryURL returns the URL of the discovery document.
func (p *Provider) DiscoveryURL() string { return p.issuer + PathDiscovery }

// JWKSURL returns the URL of the JSON Web Key Set.
func (p *Provider) JWKSURL() string { return p.issuer + PathJWKS }

// AuthorizationURL returns the URL of the authorization endpoint.
func (p *Provider) AuthorizationURL() string { return p.issuer + PathAuthorize }

// TokenURL returns the URL of the token endpoint.
func (p *Provider) TokenURL() string { return p.issuer + PathToken }

// UserinfoURL returns the URL of the userinfo endpoint.
func (p *Provider) UserinfoURL() string { return p.issuer + PathUserinfo }

// EndSessionURL returns the URL of the end_session (logout) endpoint.
func (p *Provider) EndSessionURL() string { return p.issuer + PathEndSession }

// IntrospectionURL returns the URL of the introspection endpoint.
func (p *Provider) IntrospectionURL() string { return p.issuer + PathIntrospect }

// RevocationURL returns the URL of the revocation endpoint.
func (p *Provider) RevocationURL() string { return p.issuer + PathRevoke }

// LoginURL returns the URL of the login page (it needs ?authRequestID=).
func (p *Provider) LoginURL() string { return p.issuer + PathLogin }

// AddUser registers u, replacing any user with the same ID. An empty ID
// becomes the Username. It panics when Username is empty.
func (p *Provider) AddUser(u User) {
	if u.Username == "" {
		panic("oidcprovider: AddUser: Username is required")
	}
	p.store.putUser(u)
}

// UpdateUser changes the registered user with the given ID: fn gets a copy
// to modify (its ID cannot change). Userinfo answers and tokens issued from
// then on (including by a refresh) carry the new data. It panics when no
// user has that ID.
func (p *Provider) UpdateUser(id string, fn func(*User)) {
	if !p.store.updateUser(id, fn) {
		panic(fmt.Sprintf("oidcprovider: UpdateUser: no user %q", id))
	}
}

// SetGroups replaces the "groups" claim of the user with the given ID; see
// UpdateUser.
func (p *Provider) SetGroups(userID string, groups ...string) {
	p.UpdateUser(userID, func(u *User) { u.Groups = groups })
}

// RemoveUser unregisters a user and ends their sessions (without
// back-channel logout). Tokens already issued keep verifying.
func (p *Provider) RemoveUser(id string) { p.store.deleteUser(id) }

// AddClient registers c, replacing any client with the same ID. It panics
// when ID is empty.
func (p *Provider) AddClient(c Client) {
	if c.ID == "" {
		panic("oidcprovider: AddClient: ID is required")
	}
	p.store.putClient(c)
}

// RemoveClient unregisters a client.
func (p *Provider) RemoveClient(id string) { p.store.deleteClient(id) }

// SessionCount returns how many provider (browser) sessions the user has;
// an empty userID counts all sessions.
func (p *Provider) SessionCount(userID string) int { return p.store.sessionCount(userID) }
