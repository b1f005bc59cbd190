package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/mcp"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// The steps of Handler.ServeHTTP, in order. Each returns a value and,
// when the request must stop, a verdict; none writes an answer.

// clean is the first step: the strict reading of the request (see
// hygiene). It returns the method the upstream will act on.
func (h *Handler) clean(r *http.Request, vars map[string]any) (string, *verdict) {
	method, err := h.hygiene.apply(r)
	if err != nil {
		return "", refuse(policy.ReasonMalformedRequest, challenge{status: http.StatusBadRequest, code: "invalid_request", description: err.Error()})
	}
	if vars != nil {
		vars[hygieneVar] = true
	}
	return method, nil
}

// serveOwn answers Portcullis's own endpoints (login, callback, logout,
// whoami, probes, JWKS, RFC 9728 metadata); it reports whether it did.
func (h *Handler) serveOwn(w http.ResponseWriter, r *http.Request, rid string) bool {
	switch {
	case strings.HasPrefix(r.URL.Path, h.app.endpointPrefix):
		h.serveEndpoint(w, r, rid, r.URL.Path[len(h.app.endpointPrefix):])
	case r.URL.Path == AssertionJWKSPath && h.app.signer != nil:
		h.app.serveJWKS(w)
	case strings.HasPrefix(r.URL.Path, mcp.WellKnownPrefix) && len(h.app.resources) > 0:
		h.serveResourceMetadata(w, rid, r.URL.Path)
	case h.serveASMetadata(w, r, rid):
	default:
		return false
	}
	return true
}

// inspect checks the Origin and, on a route with MCP rules, reads the
// JSON-RPC calls the request carries strictly: one policy request per
// call, every one of which must be allowed. A request that carries no
// call is one policy request, kept in one (the caller's storage).
func (h *Handler) inspect(r *http.Request, method string, one *[1]policy.Request) ([]policy.Request, *verdict) {
	if !h.originAllowed(r) {
		return nil, refuse(policy.ReasonOriginNotAllowed, challenge{status: http.StatusForbidden, code: "access_denied", description: "requests from this origin are not allowed"})
	}
	one[0] = policy.Request{Method: method}
	each := one[:]
	if !h.readsCall {
		return each, nil
	}
	calls, err := mcp.ReadCalls(r, mcp.DefaultMaxBody)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, mcp.ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, mcp.ErrUnsupportedMediaType):
			status = http.StatusUnsupportedMediaType
		}
		return nil, refuse(policy.ReasonMalformedRequest, challenge{status: status, code: "invalid_request", description: err.Error()})
	}
	if len(calls) > 0 {
		each = make([]policy.Request, len(calls))
		for i, c := range calls {
			each[i] = policy.Request{Method: method, RPCMethod: c.Method}
			if c.Method == "tools/call" {
				each[i].Tool = c.Name // tool rules name tools, not prompts or resource URIs
			}
		}
	}
	return each, nil
}

// identity is who the request is, as the identify step found it.
type identity struct {
	p principal.Principal
	// anonymous is a request without credentials on an allow_anonymous path.
	anonymous bool
}

// identify finds who is calling: the principal of an earlier portcullis
// handler of the same request, else the one credential presented, else
// the browser session, else anonymous on an allow_anonymous path, else
// a browser navigation is sent to log in. It fills ev's identity fields.
// A session read may also decide the route's zones in its round trip,
// into pre (session_pipeline.go).
func (h *Handler) identify(w http.ResponseWriter, r *http.Request, vars map[string]any, ev *audit.Event, each []policy.Request, pre *prepaid) (identity, *verdict) {
	// A request already authenticated by an earlier portcullis handler
	// (e.g. `portcullis /admin/*` before `portcullis`) keeps that
	// principal: its credential is already gone, and this route adds its
	// own requirements.
	if prior, ok := vars[principalVar].(*requestIdentity); ok {
		*ev = withPrincipal(*ev, prior.p)
		return identity{p: prior.p}, nil
	}
	cred, err := h.extractor.Extract(r)
	if err != nil {
		reason, c := policy.ReasonMalformedCredentials, challenge{status: http.StatusBadRequest, code: "invalid_request", description: err.Error()}
		switch {
		case errors.Is(err, credential.ErrMultiple):
			reason = policy.ReasonMultipleCredentials
		case errors.Is(err, credential.ErrTooLong):
			c = challenge{status: http.StatusUnauthorized, code: "invalid_token", description: "the credential is too large"}
		}
		return identity{}, refuse(reason, c)
	}
	if cred.Kind != credential.None {
		p, v := h.authenticate(r, cred, ev.ClientIP, each)
		if v == nil {
			*ev = withPrincipal(*ev, p)
		}
		return identity{p: p}, v
	}
	if h.acceptsSessions() {
		p, ok, v := h.loadSession(w, r, *ev, pre)
		if v != nil || ok {
			if ok {
				*ev = withPrincipal(*ev, p)
				ev.SessionIDHash = p.SessionID
			}
			return identity{p: p}, v
		}
	}
	if len(h.anonymous) > 0 {
		if ok, _ := h.anonymous.MatchWithError(r); ok {
			return identity{anonymous: true}, nil
		}
	}
	if h.app.sso != nil && h.acceptsSessions() && oidcflow.IsBrowserNavigation(r) {
		return identity{}, &verdict{reason: string(policy.ReasonNoCredentials), login: &oidcflow.LoginOptions{ReturnTo: r.URL.RequestURI()}}
	}
	c := challenge{status: http.StatusUnauthorized, bare: true, description: "authentication is required"}
	if h.resource != nil {
		c.scopes = h.scopesWithoutPrincipal(each)
	}
	return identity{}, refuse(policy.ReasonNoCredentials, c)
}

// loadSession reads the browser session. ok is false without a usable
// session (a stale cookie is cleared and, if expired, recorded); the
// verdict is set when the store is down (sessions fail closed). The
// zones decided in the read's round trip, if any, are left in pre.
func (h *Handler) loadSession(w http.ResponseWriter, r *http.Request, ev audit.Event, pre *prepaid) (principal.Principal, bool, *verdict) {
	var s session.Session // on the stack: loading it allocates nothing
	err := h.loadSessionInto(r, &s, pre)
	switch {
	case err == nil:
		p := s.Principal()
		p.Issuer = s.Claims.Issuer // the OpenID provider the user logged in at
		p.Scopes = providerScopes(s.Tokens.Scope)
		if lp := h.app.provider(s.Provider); lp != nil {
			p.Provider = lp.name
		}
		return h.effective(p), true, nil // its provider pin: checkPrincipal
	case isUnavailable(err):
		return principal.Principal{}, false, &verdict{reason: session.Reason(err), plain: true,
			c: challenge{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "sessions are unavailable; try again shortly"}}
	case !errors.Is(err, session.ErrNoCookie):
		// A cookie that no longer opens a session: clear it, record why,
		// and carry on as a request without credentials.
		http.SetCookie(w, h.app.sessions.ClearCookie())
		switch {
		case errors.Is(err, session.ErrExpired):
			ev.Kind, ev.Result, ev.Reason = audit.KindSessionExpired, audit.Info, session.Reason(err)
			h.app.emit(ev, h.sampler)
		case errors.Is(err, session.ErrRefreshFailed):
			// The provider refused this request's refresh: the session is
			// gone, and this event ties the reason to the request id.
			ev.Kind, ev.Result, ev.Reason = audit.KindSessionExpired, audit.Info, refreshReason(err)
			h.app.emit(ev, h.sampler)
		}
	}
	return principal.Principal{}, false, nil
}

// authorize checks what the route requires of the principal: a recent
// or strong enough authentication, a second factor (mfa), claims, the
// resource's audience and the scopes of every call (of the requirements
// that apply to the principal). It records the required scopes in ev.
func (h *Handler) authorize(r *http.Request, p principal.Principal, each []policy.Request, ev *audit.Event) *verdict {
	if v := h.checkPrincipal(p); v != nil {
		return v
	}
	if maxAge, acr, ok := h.stepUpNeeded(p); !ok {
		if p.Method == principal.MethodSession && h.app.sso != nil && oidcflow.IsBrowserNavigation(r) {
			return &verdict{reason: string(policy.ReasonStepUp), loginProvider: p.Provider, login: &oidcflow.LoginOptions{
				ReturnTo: r.URL.RequestURI(), MaxAge: maxAge, ACRValues: acr, ForceLogin: maxAge > 0}}
		}
		return refuse(policy.ReasonStepUp, challenge{status: http.StatusUnauthorized, code: "insufficient_user_authentication",
			description: "a more recent or stronger authentication is required", maxAge: maxAge, acrValues: acr})
	}
	if v := h.requireMFA(r, p); v != nil {
		return v
	}
	if cr, ok := policy.AuthorizeClaims(h.claimReqs, p.Claims); !ok {
		return refuse(policy.ReasonClaimMismatch, challenge{status: http.StatusForbidden, code: "access_denied",
			description: "the credential does not carry a claim this route requires (" + cr.Claim + ")"})
	}
	if h.resource != nil && !h.resource.accepts(p) {
		return refuse(policy.ReasonWrongAudience, challenge{status: http.StatusUnauthorized, code: "invalid_token",
			description: "the token was not issued for this resource"})
	}
	if h.resource == nil && h.app.ownAccessToken(p) {
		// The gateway's own access tokens name one resource (RFC 8707):
		// a route that serves none is no token's audience.
		return refuse(policy.ReasonWrongAudience, challenge{status: http.StatusUnauthorized, code: "invalid_token",
			description: "the token was issued for a protected resource this route does not serve"})
	}
	d := policy.AuthorizeEach(policy.Applicable(h.reqs, attributes(p)), h.app.implications, p.Scopes, each)
	ev.RequiredScopes = d.Required
	if !d.Allow {
		return refuse(d.Reason, challenge{status: http.StatusForbidden, code: "insufficient_scope",
			description: "the credential lacks a scope this request needs", scopes: d.Required})
	}
	return nil
}
