package caddymodule

import (
	"crypto/tls"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/forwardauth"
)

// How forward-auth's answers go out: the pipeline writes refusals,
// challenges, rate limits and logins itself, as inline; what differs is
// the allowed answer (the identity in response headers instead of a
// forwarded request) and the login redirect's cookies.

// allowed is the pipeline's next handler in forward-auth: the request is
// allowed, and its identity goes into the response headers, for the
// proxy to set on the request it forwards.
type allowed struct{ h *Handler }

// ServeHTTP answers 200 with every identity header (and the signed
// assertion, when the route has one). Each is present, empty when the
// principal has no such value (or for an anonymous request), so that a
// proxy that copies response headers over the request's (Envoy,
// Traefik) replaces a client's copy even then.
func (a allowed) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	out := w.Header()
	for _, name := range a.h.ih.names() {
		out[name] = []string{first(r.Header[name])}
	}
	if a.h.Assertion != nil {
		name := http.CanonicalHeaderKey(a.h.Assertion.Header)
		out[name] = []string{first(r.Header[name])}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// first returns the first of vs, or "".
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// decisionWriter is the ResponseWriter the pipeline answers a check
// request on: w itself, or with sessions, w wrapped in a loginCookies.
func (f *ForwardAuth) decisionWriter(w http.ResponseWriter) http.ResponseWriter {
	if f.app.sessions == nil {
		return w
	}
	return &loginCookies{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, session: f.app.sessions.CookieName()}
}

// loginCookies keeps a login redirect to one Set-Cookie, the login
// flow's: nginx's auth_request passes one Set-Cookie of the check
// response on (auth_request_set $upstream_http_set_cookie), and a
// redirect that both clears a stale session cookie and starts a login
// would lose the flow cookie there. The stale cookie needs no clearing:
// the callback's new session cookie replaces it.
type loginCookies struct {
	*caddyhttp.ResponseWriterWrapper
	session string
}

// WriteHeader drops the session-clearing cookie of a 302 that sets
// another cookie too.
func (lc *loginCookies) WriteHeader(status int) {
	h := lc.Header()
	if cs := h["Set-Cookie"]; status == http.StatusFound && len(cs) > 1 {
		var keep []string
		for _, c := range cs {
			if sc, err := http.ParseSetCookie(c); err == nil && sc.Name == lc.session && sc.MaxAge < 0 {
				continue
			}
			keep = append(keep, c)
		}
		h["Set-Cookie"] = keep
	}
	lc.ResponseWriterWrapper.WriteHeader(status)
}

// serveEndpoint serves one of the gateway's own endpoints (login,
// callback, logout, whoami, probes, JWKS, resource metadata) through the
// pipeline of the policy for its host. A trusted proxy that passes the
// request on says, in X-Forwarded-Host and -Proto, which host and scheme
// the browser used: the login machinery builds return URLs and checks
// same-origin requests against those. An untrusted peer's are ignored.
func (f *ForwardAuth) serveEndpoint(w http.ResponseWriter, r *http.Request, trusted bool) error {
	if trusted {
		scheme, host, err := forwardauth.Origin(r.Header)
		if err != nil {
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			writeIDError(w, requestIDFor(r, repl), http.StatusBadRequest, "invalid_request", err.Error())
			return nil
		}
		if scheme != "" || host != "" {
			r = r.WithContext(r.Context())
			if host != "" {
				r.Host = host
			}
			switch scheme {
			case "https":
				r.TLS = &tls.ConnectionState{HandshakeComplete: true}
			case "http":
				r.TLS = nil
			}
		}
	}
	return f.forHost(r).Handler.ServeHTTP(w, r, noEndpoint{})
}

// noEndpoint answers a request for an endpoint the gateway does not
// serve (the pipeline calls it only when no endpoint answered).
type noEndpoint struct{}

// ServeHTTP answers 404.
func (noEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	writeJSONError(w, first(w.Header()[requestIDHeader]), http.StatusNotFound, "not_found", "no such Portcullis endpoint")
	return nil
}
