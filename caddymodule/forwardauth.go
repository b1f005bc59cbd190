package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/forwardauth"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/mcp"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

func init() {
	caddy.RegisterModule(ForwardAuth{})
}

// ForwardAuth is the decision endpoint of forward-auth: a proxy in front
// of an application (nginx auth_request, Traefik forwardAuth, Caddy's
// forward_auth, HAProxy, Envoy ext_authz) asks it about each request,
// and it answers with the decision the `portcullis` handler would make
// for that request, through the same pipeline (strict request reading,
// authenticate, authorize, rate limit, audit, metrics).
//
// It reads the original request from the check request (see
// internal/forwardauth): from X-Forwarded-Method, -Proto, -Host and -Uri
// (or nginx's X-Original-Method and X-Original-URI), or, with PathPrefix,
// the way Envoy sends it. Only a peer in the server's `trusted_proxies`
// may describe a request: a check request from any other peer is refused
// (403), and so is a description that is missing, repeated, conflicting
// or malformed (400), whatever the peer.
//
// The first policy whose hosts and paths match the original request
// decides; a request no policy matches is refused (403, reason
// `no_policy`). A request path that the strict path check refuses only
// matches policies with allow_ambiguous_paths (400 otherwise), so an
// ambiguous spelling cannot slip past a policy into a later one.
//
// Answers:
//
//	200      allowed: the identity headers (X-Auth-* or as configured,
//	         each present, empty when the principal has no value) and the
//	         signed assertion in the response headers, for auth_request_set,
//	         authResponseHeaders, copy_headers or allowed_upstream_headers
//	401/403  refused, with the RFC 6750 challenge as inline
//	302      a browser navigation that must log in, to the login
//	         endpoint or the provider, returning to the original URL
//	429      rate limited, with Retry-After
//	400      a malformed request or description
//
// Requests to the gateway's own endpoints (login, callback, logout, the
// assertion JWKS, protected-resource metadata) are served as the inline
// handler serves them; when a trusted proxy passes them on, the host and
// scheme they came to are read from X-Forwarded-Host and -Proto. An
// original request for one of those paths (a proxy asking about the
// gateway's own endpoints) is allowed without identity.
//
// Placeholders: those of the portcullis handler ({http.auth.user.*},
// {http.auth.request_id}), for the decision's own log lines.
//
// What forward-auth cannot do, since the proxy forwards the request
// itself: read the body (routes with MCP tool or method rules are refused
// in Provision; a `_method` form field is not seen), and remove headers
// from the forwarded request (the proxy must drop client copies of the
// identity headers, and the credentials if the upstream must not see
// them). Method-override headers (unless a policy allows them) and
// URL-override headers in the original request are therefore refused
// (400) rather than removed.
type ForwardAuth struct {
	// PathPrefix, when set, reads the original request the way Envoy's
	// ext_authz HTTP service sends it: the check request's method and
	// Host are the original's, and its path is PathPrefix followed by the
	// original path and query (ext_authz `path_prefix`). Requests outside
	// PathPrefix (other than the gateway's own endpoints) are answered
	// 404. Default: none (the original request is read from headers).
	PathPrefix string `json:"path_prefix,omitempty"`
	// Policies say what each host and path requires, in order: the first
	// that matches the original request decides.
	Policies []*ForwardAuthPolicy `json:"policies,omitempty"`

	app    *App
	logger *zap.Logger
	// warnUntrusted logs the first refused untrusted peer (every refusal
	// is an audit event).
	warnUntrusted *sync.Once
}

// CaddyModule returns the Caddy module information.
func (ForwardAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.portcullis_forward_auth",
		New: func() caddy.Module { return new(ForwardAuth) },
	}
}

// Provision loads the portcullis app and compiles every policy.
func (f *ForwardAuth) Provision(ctx caddy.Context) error {
	f.logger, f.warnUntrusted = ctx.Logger(), new(sync.Once)
	v, err := ctx.App("portcullis")
	if err != nil {
		return fmt.Errorf("loading portcullis app: %w", err)
	}
	f.app = v.(*App)
	if len(f.Policies) == 0 {
		return errors.New("portcullis_forward_auth needs at least one policy: `policy [<host…>] [<path…>] { … }`")
	}
	if f.PathPrefix != "" {
		if err := checkPathPrefix(f.PathPrefix); err != nil {
			return err
		}
	}
	for i, p := range f.Policies {
		if p == nil {
			return fmt.Errorf("policy %d is empty", i+1)
		}
		if err := p.provision(ctx); err != nil {
			return fmt.Errorf("portcullis_forward_auth policy %d (%s): %w", i+1, p.name(), err)
		}
	}
	return nil
}

// Validate checks every policy against the app.
func (f *ForwardAuth) Validate() error {
	for i, p := range f.Policies {
		if err := p.Handler.Validate(); err != nil {
			return fmt.Errorf("portcullis_forward_auth policy %d (%s): %w", i+1, p.name(), err)
		}
	}
	return nil
}

// checkPathPrefix accepts a path that starts with '/', does not end with
// one, and holds only unreserved path characters.
func checkPathPrefix(p string) error {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || request.CheckPath(p) != nil || strings.ContainsAny(p, "?#%") {
		return fmt.Errorf("path_prefix %q must be a plain path such as /ext-authz (starting with '/', not ending with one)", p)
	}
	return nil
}

// ServeHTTP answers a check request with a decision, or serves one of
// the gateway's own endpoints. It never calls next: the decision is the
// answer.
func (f *ForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	if f.PathPrefix != "" {
		p := r.URL.Path
		if p != f.PathPrefix && !strings.HasPrefix(p, f.PathPrefix+"/") {
			if f.ownPath(p) {
				return f.serveEndpoint(w, r, trusted)
			}
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			writeIDError(w, requestIDFor(r, repl), http.StatusNotFound, "not_found", "forward-auth check requests go under "+f.PathPrefix+"/")
			return nil
		}
	} else if f.ownPath(r.URL.Path) {
		return f.serveEndpoint(w, r, trusted)
	}
	return f.decide(w, r, trusted)
}

// ownPath reports whether path is one of the gateway's own endpoints, as
// Handler.serveOwn answers them.
func (f *ForwardAuth) ownPath(path string) bool {
	a := f.app
	return strings.HasPrefix(path, a.endpointPrefix) ||
		path == AssertionJWKSPath && a.signer != nil ||
		strings.HasPrefix(path, mcp.WellKnownPrefix) && len(a.resources) > 0
}

// Reasons of the decisions the forward-auth front door makes itself,
// before a policy's pipeline runs.
const (
	// reasonUntrustedProxy: a check request from a peer outside the
	// server's trusted_proxies.
	reasonUntrustedProxy = "untrusted_proxy"
	// reasonNoPolicy: no policy matches the original request.
	reasonNoPolicy = "no_policy"
)

// decide reads the original request, picks its policy and runs the
// policy's pipeline on it; the answer goes to the proxy.
func (f *ForwardAuth) decide(w http.ResponseWriter, r *http.Request, trusted bool) error {
	start := time.Now()
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	rid := requestIDFor(r, repl)
	if !trusted {
		f.warnUntrusted.Do(func() {
			f.logger.Warn("refusing forward-auth check requests from a peer outside the server's trusted_proxies; list your proxies there",
				zap.String("remote_addr", r.RemoteAddr))
		})
		f.refuse(w, r, rid, start, nil, reasonUntrustedProxy, http.StatusForbidden, "access_denied",
			"forward-auth check requests are accepted only from the proxies in the server's trusted_proxies")
		return nil
	}
	var o forwardauth.Request
	var err error
	if f.PathPrefix != "" {
		o, err = forwardauth.FromPath(r.Method, r.Host, r.RequestURI, f.PathPrefix, r.Header)
	} else {
		o, err = forwardauth.FromHeaders(r.Header)
	}
	var orig *http.Request
	if err == nil {
		orig, err = o.Rebuild(r)
	}
	if err != nil {
		f.refuse(w, r, rid, start, nil, string(policy.ReasonMalformedRequest), http.StatusBadRequest, "invalid_request", err.Error())
		return nil
	}
	// One request id for the check and the original request: the
	// pipeline takes it from the header, as from any trusted proxy.
	orig.Header[requestIDHeader] = []string{rid}
	if name := urlOverride(orig.Header); name != "" {
		f.refuse(w, orig, rid, start, nil, string(policy.ReasonMalformedRequest), http.StatusBadRequest, "invalid_request",
			"the request carries "+name+", which the application behind could read as another URL")
		return nil
	}
	p, pathErr := f.choose(orig)
	switch {
	case p == nil && pathErr != nil:
		f.refuse(w, orig, rid, start, nil, string(policy.ReasonMalformedRequest), http.StatusBadRequest, "invalid_request", pathErr.Error())
		return nil
	case p == nil:
		f.refuse(w, orig, rid, start, nil, reasonNoPolicy, http.StatusForbidden, "access_denied", "no forward-auth policy covers this host and path")
		return nil
	}
	if !p.AllowMethodOverride {
		if name := methodOverride(orig.Header); name != "" {
			f.refuse(w, orig, rid, start, p, string(policy.ReasonMalformedRequest), http.StatusBadRequest, "invalid_request",
				"the request carries "+name+"; this route does not allow method overrides")
			return nil
		}
	}
	if f.ownPath(orig.URL.Path) {
		if pathErr != nil {
			f.refuse(w, orig, rid, start, p, string(policy.ReasonMalformedRequest), http.StatusBadRequest, "invalid_request", pathErr.Error())
			return nil
		}
		// The gateway's own endpoints, which the proxy passes on to it:
		// nothing to decide here, they answer for themselves.
		w.Header()[requestIDHeader] = []string{rid}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return p.Handler.ServeHTTP(f.decisionWriter(w), orig, allowed{&p.Handler})
}

// refuse answers a check request the front door refuses before (or
// instead of) a policy's pipeline, and records it like a pipeline
// refusal: a decision event and the decision metrics. p is the policy,
// when one was chosen.
func (f *ForwardAuth) refuse(w http.ResponseWriter, r *http.Request, rid string, start time.Time, p *ForwardAuthPolicy,
	reason string, status int, code, desc string) {
	h := &f.Policies[0].Handler
	route := ""
	if p != nil {
		h, route = &p.Handler, p.Route
	}
	ev := requestEvent(r, audit.KindDecision, rid, route)
	ev.Result, ev.Reason = audit.Deny, reason
	h.record(ev, start)
	writeIDError(w, rid, status, code, desc)
}

// writeIDError answers with a JSON error and the request id header.
func writeIDError(w http.ResponseWriter, rid string, status int, code, desc string) {
	w.Header()[requestIDHeader] = []string{rid}
	writeJSONError(w, rid, status, code, desc)
}

// urlOverride returns the first URL-override header h carries (in any
// case, with '_' for '-'), if any: the proxy forwards the request with
// it, so it cannot be removed as inline.
func urlOverride(h http.Header) string { return anyHeader(h, request.URLOverrideHeaders) }

// methodOverride returns the first method-override header h carries.
func methodOverride(h http.Header) string { return anyHeader(h, request.MethodOverrideHeaders) }

// anyHeader returns the name of a header of h that any upstream could
// read as one of names.
func anyHeader(h http.Header, names []string) string {
	for k := range h {
		for _, n := range names {
			if request.SameHeaderName(strings.TrimSpace(k), n) {
				return n
			}
		}
	}
	return ""
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ForwardAuth)(nil)
	_ caddy.Validator             = (*ForwardAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*ForwardAuth)(nil)
)
