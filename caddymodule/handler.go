package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler protects a route: it authenticates the request with the
// identity configured in the `portcullis` app, checks what the route
// requires, and forwards the identity to the next handler.
//
// Client copies of the identity headers (in any case, with '-' or '_')
// are always removed, and the credential itself is never forwarded: the
// API-key header always, the Authorization header unless
// ForwardAuthorization is set.
//
// Placeholders set for an authenticated request:
//
//	{http.auth.user.id}      subject
//	{http.auth.user.method}  api_key, jwt or session
//	{http.auth.user.key_id}  API key id
//	{http.auth.user.name}    display name
//	{http.auth.user.email}   email
//	{http.auth.user.scopes}  effective scopes, space-separated
//	{http.auth.user.groups}  groups, comma-separated, each percent-encoded
//	                         as in the groups header (IdentityHeaders.Groups)
//	{http.auth.user.issuer}  the JWT's issuer URL, or the OpenID provider's
//	                         for a session; empty for an API key
//	{http.auth.request_id}   the request id (also in X-Request-Id)
type Handler struct {
	// Realm is the realm of WWW-Authenticate challenges. Default: `portcullis`.
	Realm string `json:"realm,omitempty"`
	// Accept lists the credential types this route accepts: `api_key`,
	// `jwt`, `session`. Default: all of them.
	Accept []string `json:"accept,omitempty"`
	// Issuers lists the jwt issuers (by `name`, or by issuer URL) whose
	// tokens this route accepts; a valid token from another trusted
	// issuer is refused (401, reason `issuer_not_accepted`). Default: any
	// trusted issuer, allowed only while the app trusts one: with two or
	// more, a route that accepts JWTs must list its issuers.
	Issuers []string `json:"issuers,omitempty"`
	// Providers lists the login providers (`oidc <name>`) whose browser
	// sessions this route accepts; a session from another is refused
	// (403, reason `provider_not_accepted`), and a browser without a
	// session logs in at these (directly when one, else a chooser of
	// them). Default: every provider.
	Providers []string `json:"providers,omitempty"`
	// Require lists scope requirements; all that apply to the request
	// method must be met.
	Require []RequireConfig `json:"require,omitempty"`
	// RateLimits names the rate-limit zones (declared in the app) that
	// apply to this route.
	RateLimits []string `json:"rate_limits,omitempty"`
	// RequireClaims lists claim requirements (e.g. `groups` contains
	// `admins`); all must hold. Credentials without claims (API keys)
	// never satisfy one.
	RequireClaims []ClaimConfig `json:"require_claims,omitempty"`
	// AllowAnonymous lists path patterns (as Caddy's path matcher reads
	// them) reachable without credentials. A credential presented there
	// is still verified, and its identity forwarded.
	AllowAnonymous []string `json:"allow_anonymous,omitempty"`
	// IdentityHeaders names the headers sent upstream. Default: the
	// `X-Auth-*` names listed on IdentityHeaders.
	IdentityHeaders *IdentityHeaders `json:"identity_headers,omitempty"`
	// Assertion sends a signed identity assertion (a short-lived ES256
	// JWT) upstream, for backends that verify rather than trust headers.
	// Needs `assertion` keys in the app.
	Assertion *AssertionRoute `json:"assertion,omitempty"`
	// MaxAge requires a recent authentication: a session or token whose
	// auth_time is older is sent back to log in again (browsers) or
	// refused with insufficient_user_authentication (RFC 9470). Default: none.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// ACR lists acceptable authentication context classes (`acr`); a
	// principal with another is stepped up like MaxAge. Default: any.
	ACR []string `json:"acr,omitempty"`
	// StepUp lists max_age and acr rules that apply only to the
	// principals their condition selects (`max_age 5m when groups
	// admins`).
	StepUp []StepUpConfig `json:"step_up,omitempty"`
	// MFA is the route's part in requiring a second factor: `off`
	// exempts it from the app's mfa, otherwise it requires one of
	// everyone (or of those When selects). Default: the app's mfa applies.
	MFA *RouteMFAConfig `json:"mfa,omitempty"`
	// Resource binds the route to a protected resource declared in the
	// app (its URI): challenges point clients to its metadata, and JWTs
	// must name it (or an alias) in `aud`.
	Resource string `json:"resource,omitempty"`
	// AllowedOrigins, when set, refuses requests whose Origin header is
	// not listed (DNS-rebinding protection for MCP servers). Requests
	// without Origin pass.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// AllowAmbiguousPaths lets through, on this route, request paths with
	// `;` parameters, encoded `/` or `%` and empty segments, for
	// upstreams that need them (Tomcat's `;jsessionid=`). Dot segments
	// (also `..;`), backslashes, segments ending in `.` or ` `, control
	// characters and invalid escapes or UTF-8 are refused even then.
	// The site guard the Caddyfile adds stays strict for other paths.
	// Default: false (all such paths are refused with 400).
	AllowAmbiguousPaths bool `json:"allow_ambiguous_paths,omitempty"`
	// AllowMethodOverride keeps method-override headers
	// (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`) and
	// `_method` parameters (query, urlencoded form) on POST requests, and
	// authorizes the overriding method. Default: false (the headers are
	// removed, a `_method` parameter is refused with 400). URL-override
	// headers (`X-Original-URL`, `X-Rewrite-URL`, `X-Original-URI` …)
	// are always removed.
	AllowMethodOverride bool `json:"allow_method_override,omitempty"`
	// ForwardAuthorization keeps the Authorization header on requests
	// sent upstream. Default: false (the bearer token is removed).
	ForwardAuthorization bool `json:"forward_authorization,omitempty"`
	// Inject sends the user's token for an upstream OAuth provider (the
	// credential vault) upstream. Default: none.
	Inject *InjectConfig `json:"inject,omitempty"`
	// MaxCredentialLength bounds a presented credential, in bytes.
	// Default: 8192.
	MaxCredentialLength int `json:"max_credential_length,omitempty"`
	// RateLimitHeaders sends the RateLimit header on allowed responses
	// too (it is always on 429s). Default: true.
	RateLimitHeaders *bool `json:"rate_limit_headers,omitempty"`
	// Route names this route in audit events. Default: none.
	Route string `json:"route,omitempty"`
	// AuditAllowed is the fraction of allowed decisions written to the
	// audit log, from 0 (none) to 1 (all). Denials and security events
	// are always written. Default: 1.
	AuditAllowed *float64 `json:"audit_allowed,omitempty"`

	app       *App
	accept    []principal.Method
	issuers   []string // issuer URLs from Issuers; nil: any
	reqs      []policy.Requirement
	authz     routeAuthz
	extractor credential.Extractor
	sampler   audit.Sampler
	claimReqs []policy.ClaimRequirement
	anonymous caddyhttp.MatchPath
	ih        IdentityHeaders
	stripper  request.HeaderSet
	hygiene   hygiene
	resource  *resource
	inject    *injector
	readsCall bool
	zones     []ratelimit.Zone
	// zonesBySubject: every zone is keyed by the user's id alone, so a
	// session read can decide them in its round trip (session_pipeline.go).
	zonesBySubject bool
	// rateLimitHeaders: see RateLimitHeaders.
	rateLimitHeaders bool
	logger           *zap.Logger
}

// RequireConfig is one scope requirement of a route.
type RequireConfig struct {
	// Scopes that must all be granted (scope implications apply).
	Scopes []string `json:"scopes,omitempty"`
	// Any relaxes Scopes to "at least one of".
	Any bool `json:"any,omitempty"`
	// Tools restricts the requirement to MCP tool calls whose tool name
	// matches one of these globs (e.g. `deploy_*`).
	Tools []string `json:"tools,omitempty"`
	// MCPMethods restricts the requirement to these MCP (JSON-RPC)
	// methods, e.g. `tools/list`.
	MCPMethods []string `json:"mcp_methods,omitempty"`
	// Methods restricts the requirement to these HTTP methods. Default: all.
	Methods []string `json:"methods,omitempty"`
	// When limits the requirement to the principals it selects; the
	// others are judged by the route's other requirements. Default: all.
	When *ConditionConfig `json:"when,omitempty"`
}

// ClaimConfig requires a claim to hold one of some values.
type ClaimConfig struct {
	// Claim name, e.g. `groups` or `email_verified`.
	Claim string `json:"claim,omitempty"`
	// Values accepted: a string claim equal to one, an array claim
	// containing one, a boolean claim equal to `true`/`false`.
	Values []string `json:"values,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.portcullis",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the portcullis app and compiles the route's rules.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	v, err := ctx.App("portcullis")
	if err != nil {
		return fmt.Errorf("loading portcullis app: %w", err)
	}
	return h.setup(v.(*App))
}

// setup applies defaults and compiles the route against app.
func (h *Handler) setup(app *App) error {
	var err error
	h.app = app
	if h.Realm == "" {
		h.Realm = "portcullis"
	}
	ih := IdentityHeaders{}
	if h.IdentityHeaders != nil {
		ih = *h.IdentityHeaders
	}
	if h.ih, err = ih.withDefaults(); err != nil {
		return err
	}
	h.stripper = identityNames(h.ih)
	if h.Assertion != nil {
		if h.Assertion.Audience == "" {
			return errors.New("assertion: an audience is required")
		}
		if h.Assertion.Header == "" {
			h.Assertion.Header = DefaultAssertionHeader
		}
		if err := validHeaderName(h.Assertion.Header); err != nil {
			return fmt.Errorf("assertion: %w", err)
		}
		if app.signer == nil {
			return errors.New("assertion: the route asks for an assertion but the portcullis app has no assertion keys")
		}
		h.stripper = h.stripper.With(h.Assertion.Header)
	}
	if err := h.setupInject(app); err != nil {
		return err
	}
	for _, c := range h.RequireClaims {
		cr := policy.ClaimRequirement{Claim: c.Claim, Values: c.Values}
		if err := cr.Validate(); err != nil {
			return err
		}
		h.claimReqs = append(h.claimReqs, cr)
	}
	h.anonymous = caddyhttp.MatchPath(h.AllowAnonymous)
	if err := h.anonymous.Provision(caddy.Context{}); err != nil {
		return fmt.Errorf("allow_anonymous: %w", err)
	}
	if h.MaxCredentialLength == 0 {
		h.MaxCredentialLength = credential.DefaultMaxLength
	}
	h.accept, err = parseAccept(h.Accept)
	if err != nil {
		return err
	}
	if err := h.compileIssuers(app); err != nil {
		return err
	}
	if err := app.resolveProviders(h.Providers); err != nil {
		return fmt.Errorf("%s: %w", h.describe(), err)
	}
	h.reqs, err = compileRequirements(h.Require)
	if err != nil {
		return err
	}
	if err := h.compileAuthz(app); err != nil {
		return err
	}
	for _, r := range h.reqs {
		h.readsCall = h.readsCall || len(r.Tools) > 0 || len(r.RPCMethods) > 0
	}
	if h.Resource != "" {
		if h.resource = app.resources[h.Resource]; h.resource == nil {
			return fmt.Errorf("resource %q is not declared in the portcullis global option", h.Resource)
		}
	}
	h.sampler = audit.AllowAll
	if h.AuditAllowed != nil {
		if h.sampler, err = audit.NewSampler(*h.AuditAllowed, nil); err != nil {
			return err
		}
	}
	h.hygiene = newHygiene(h.stripper, h.AllowAmbiguousPaths, h.AllowMethodOverride, app.apiKeyHeader)
	h.extractor = credential.Extractor{
		APIKeyHeader: h.app.apiKeyHeader,
		APIKeyPrefix: h.app.keys.Prefix(),
		MaxLength:    h.MaxCredentialLength,
	}
	return nil
}

// Validate checks the route against the app: every rate-limit zone it
// names must be declared.
func (h *Handler) Validate() error {
	if h.MaxCredentialLength < 0 {
		return errors.New("max_credential_length must not be negative")
	}
	for _, z := range h.RateLimits {
		zone, ok := h.app.zones[z]
		if !ok {
			return fmt.Errorf("rate_limit: zone %q is not declared in the portcullis global option", z)
		}
		h.zones = append(h.zones, zone)
	}
	h.zonesBySubject = subjectKeyed(h.zones)
	h.rateLimitHeaders = h.RateLimitHeaders == nil || *h.RateLimitHeaders
	return nil
}

// ServeHTTP runs the request through the pipeline: read it strictly,
// answer Portcullis's own endpoints, then authenticate → authorize →
// limit → forward. Each step returns a value; a step that stops the
// request returns a verdict, and answer is the one place that turns a
// verdict into HTTP.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars := requestVars(r)
	rid := requestIDIn(vars, r, repl)
	// One allocation for both copies of the id: the response's now, the
	// upstream request's in forward (each its own element, capped, so an
	// append or edit to one never reaches the other).
	ridVals := []string{rid, rid}
	w.Header()[requestIDHeader] = ridVals[0:1:1]
	start := time.Now()
	ev := requestEventIn(vars, r, audit.KindDecision, rid, h.Route)

	method, v := h.clean(r, vars)
	if v == nil && h.serveOwn(w, r, rid) {
		return nil
	}
	var each []policy.Request
	var one [1]policy.Request
	if v == nil {
		each, v = h.inspect(r, method, &one)
		withCalls(&ev, each)
	}
	var id identity
	// A charge the session read made for the zones (session_pipeline.go)
	// and limit did not take is refunded on the way out, whatever the way.
	var pre prepaid
	defer pre.settle(r.Context())
	if v == nil {
		id, v = h.identify(w, r, vars, &ev, each, &pre)
		h.warnExpiry(w.Header(), id.p, ev)
	}
	if v == nil && !id.anonymous {
		v = h.authorize(r, id.p, each, &ev)
	}
	if v != nil {
		h.answer(w, r, ev, start, *v)
		return nil
	}

	ev.Result, ev.Reason = audit.Allow, string(policy.ReasonAllowed)
	if id.anonymous {
		ev.Reason = string(policy.ReasonAnonymous)
	}
	// The allowed event is written once, after next returns, with the
	// upstream's answer; sampled once, here.
	h.count(ev, start)
	logAllowed := h.sampler.Keep(ev.Kind, ev.Result) && h.app.audit.Core().Enabled(zap.InfoLevel)
	h.forward(r, ridVals[1:2:2])
	if !id.anonymous {
		setIdentity(vars, r, repl, h.ih, id.p)
	}
	if v := h.limit(w, r, repl, id.p, &pre); v != nil {
		if logAllowed {
			h.app.emit(ev, audit.AllowAll)
		}
		h.answer(w, r, withPrincipal(ev, id.p), start, *v)
		return nil
	}
	if h.inject != nil && !id.anonymous {
		if m := h.injectUpstream(r, id.p, each, ev); m != nil {
			if logAllowed {
				h.app.emit(ev, audit.AllowAll)
			}
			h.answerVaultMiss(w, r, ev, *m)
			return nil
		}
	}
	if h.Assertion != nil && !id.anonymous {
		token, err := h.app.signer.Sign(id.p, h.Assertion.Audience)
		if err != nil {
			if logAllowed {
				h.app.emit(ev, audit.AllowAll)
			}
			return caddyhttp.Error(http.StatusInternalServerError, err)
		}
		r.Header.Set(h.Assertion.Header, token)
	}
	return h.serveNext(w, r, next, ev, logAllowed)
}

// forward removes the credential from the request sent upstream and
// adds the request id (rid is the header's value, the id alone).
func (h *Handler) forward(r *http.Request, rid []string) {
	if h.extractor.APIKeyHeader != "" {
		r.Header.Del(h.extractor.APIKeyHeader)
	}
	if h.app.sessions != nil {
		stripOurCookies(r, h.app.sessions.CookieName())
	}
	if !h.ForwardAuthorization {
		r.Header.Del("Authorization")
	}
	r.Header[requestIDHeader] = rid
}

// record counts a decision and writes its audit event.
func (h *Handler) record(ev audit.Event, start time.Time) {
	h.count(ev, start)
	h.app.emit(ev, h.sampler)
}

// count counts a decision in the metrics.
func (h *Handler) count(ev audit.Event, start time.Time) {
	h.app.metrics.countDecision(&ev, start)
}

// serveEndpoint answers a request under the endpoint prefix.
func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request, rid, name string) {
	if h.serveSSO(w, r, rid, name) || h.serveVault(w, r, rid, name) || h.serveAuthServer(w, r, rid, name) {
		return
	}
	switch name {
	case "healthz":
		h.app.serveHealth(w, r, false)
	case "readyz":
		h.app.serveHealth(w, r, true)
	default:
		writeJSONError(w, rid, http.StatusNotFound, "not_found", "no such Portcullis endpoint")
	}
}

// principalVar is the request variable that carries the request's
// *requestIdentity (the principal it was allowed as) to later portcullis
// handlers of the same request.
const principalVar = "portcullis.principal"

// acceptsSessions reports whether browser sessions are configured and
// accepted on this route.
func (h *Handler) acceptsSessions() bool {
	return h.app.sessions != nil && slices.Contains(h.accept, principal.MethodSession)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
