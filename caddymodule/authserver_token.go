package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/authserver"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/clientreg"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// maxTokenRequest bounds the body of a token, revocation or
// registration request.
const maxTokenRequest = 64 << 10

// tokenClient reads and authenticates the client of a token or
// revocation request: HTTP Basic (client_secret_basic, RFC 6749
// §2.3.1), client_id and client_secret in the form
// (client_secret_post), or client_id alone for a public client. On
// failure it has answered (401 invalid_client, or 503).
func (h *Handler) tokenClient(w http.ResponseWriter, r *http.Request, rid string) (clientreg.Client, bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || r.PostForm.Has("client_secret") {
			writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", "malformed client authentication")
			return clientreg.Client{}, false
		}
		if f := r.PostForm.Get("client_id"); f != "" && f != id {
			writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
			return clientreg.Client{}, false
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	fail := func(status int, desc string) (clientreg.Client, bool) {
		if status == http.StatusUnauthorized && basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="portcullis"`)
		}
		code := "invalid_client"
		if status == http.StatusServiceUnavailable {
			code = "temporarily_unavailable"
		}
		writeTokenError(w, rid, status, code, desc)
		return clientreg.Client{}, false
	}
	if id == "" {
		return fail(http.StatusUnauthorized, "client authentication is required")
	}
	as := h.app.authServer
	c, err := as.clients.Resolve(r.Context(), id)
	if err != nil {
		status, _, desc := clientError(err)
		if status != http.StatusServiceUnavailable {
			status = http.StatusUnauthorized
		}
		return fail(status, desc)
	}
	if err := as.clients.Authenticate(r.Context(), c, secret); err != nil {
		status, _, _ := clientError(err)
		if status != http.StatusServiceUnavailable {
			status = http.StatusUnauthorized
		}
		return fail(status, "client authentication failed")
	}
	return c, true
}

// readTokenForm parses a POSTed form of at most maxTokenRequest bytes.
func readTokenForm(w http.ResponseWriter, r *http.Request, rid string) bool {
	if r.Method != http.MethodPost {
		writeTokenError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", "send an application/x-www-form-urlencoded body")
		return false
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", k+" is repeated")
			return false
		}
	}
	return true
}

// writeTokenError answers with an RFC 6749 §5.2 error (no-store; the
// request id added).
func writeTokenError(w http.ResponseWriter, rid string, status int, code, desc string) {
	w.Header().Set("Pragma", "no-cache")
	writeJSONError(w, rid, status, code, desc)
}

// serveToken is the token endpoint (RFC 6749 §3.2): authorization_code
// and refresh_token grants, answered per §5.1/§5.2 with no-store.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request, rid string) {
	if preflight(w, r) || !readTokenForm(w, r, rid) {
		return
	}
	c, ok := h.tokenClient(w, r, rid)
	if !ok {
		return
	}
	as := h.app.authServer
	f := r.PostForm
	var tok authserver.Tokens
	var g *authserver.Grant
	var err error
	kind := KindOAuthToken
	switch f.Get("grant_type") {
	case "authorization_code":
		tok, g, err = as.server.Exchange(r.Context(), authserver.CodeExchange{
			Code: f.Get("code"), ClientID: c.ID, RedirectURI: f.Get("redirect_uri"), Verifier: f.Get("code_verifier"), Resource: f.Get("resource"),
		})
	case "refresh_token":
		kind = KindOAuthRefresh
		tok, g, err = as.server.Refresh(r.Context(), authserver.RefreshRequest{
			Token: f.Get("refresh_token"), ClientID: c.ID, Resource: f.Get("resource"), Scopes: strings.Fields(f.Get("scope")),
		})
	case "":
		writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		h.emitAS(r, rid, asEvent{kind: KindOAuthToken, result: audit.Deny, reason: "unsupported_grant_type", clientID: c.ID})
		writeTokenError(w, rid, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code and refresh_token are supported")
		return
	}
	ev := asEvent{kind: kind, result: audit.Allow, clientID: c.ID}
	if g != nil {
		ev.subject, ev.resource, ev.scopes, ev.grant = g.Identity.Subject, g.Resource, g.Scopes, g.ID
	}
	if err != nil {
		ev.result = audit.Deny
		var oe *authserver.Error
		if !errors.As(err, &oe) {
			ev.reason = "unavailable"
			h.emitAS(r, rid, ev)
			h.asUnavailable(w, rid, err)
			return
		}
		ev.reason = oe.Reason
		h.emitAS(r, rid, ev)
		if oe.Reason == authserver.ReasonRefreshReused || oe.Reason == "code_replayed" {
			h.app.logger.Warn("authorization server: a used credential was presented again; the grant is revoked",
				zap.String("reason", oe.Reason), zap.String("client_id", audit.CleanUserAgent(c.ID)), zap.String("grant_id_hash", authserver.HashRef(ev.grant)))
		}
		writeTokenError(w, rid, http.StatusBadRequest, oe.Code, oe.Description)
		return
	}
	ev.scopes = strings.Fields(tok.Scope)
	h.emitAS(r, rid, ev)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(tok)
}

// serveRevoke is the RFC 7009 revocation endpoint: the grant of a
// refresh token is revoked; any token, known or not, is answered 200.
func (h *Handler) serveRevoke(w http.ResponseWriter, r *http.Request, rid string) {
	if preflight(w, r) || !readTokenForm(w, r, rid) {
		return
	}
	c, ok := h.tokenClient(w, r, rid)
	if !ok {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeTokenError(w, rid, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	g, err := h.app.authServer.server.Revoke(r.Context(), token, c.ID)
	if err != nil {
		h.asUnavailable(w, rid, err)
		return
	}
	if g != nil {
		h.emitAS(r, rid, asEvent{kind: KindOAuthRevocation, result: audit.Allow, subject: g.Identity.Subject, clientID: c.ID, resource: g.Resource, grant: g.ID})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// serveRegister is the RFC 7591 registration endpoint.
func (h *Handler) serveRegister(w http.ResponseWriter, r *http.Request, rid string) {
	if preflight(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		writeTokenError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if !h.registrationAllowed(w, r, rid) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	if err != nil {
		writeTokenError(w, rid, http.StatusRequestEntityTooLarge, "invalid_client_metadata", "the registration request is too large")
		return
	}
	c, _, resp, err := h.app.authServer.clients.Register(r.Context(), body)
	if err != nil {
		status, reason, desc := clientError(err)
		code := "invalid_client_metadata"
		var ce *clientreg.Error
		if errors.As(err, &ce) {
			code = ce.Code
		}
		h.emitAS(r, rid, asEvent{kind: KindOAuthRegistration, result: audit.Deny, reason: reason})
		writeTokenError(w, rid, status, code, desc)
		return
	}
	h.emitAS(r, rid, asEvent{kind: KindOAuthRegistration, result: audit.Allow, clientID: c.ID})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(resp)
}

// registrationAllowed applies registerZone to the client's address; on
// refusal it has answered 429 with Retry-After.
func (h *Handler) registrationAllowed(w http.ResponseWriter, r *http.Request, rid string) bool {
	as := h.app.authServer
	if as.registerLimiter == nil {
		return true
	}
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	res, err := as.registerLimiter.Allow(r.Context(), []ratelimit.Request{{Zone: registerZone, Key: "ip:" + addressBucket(ip)}})
	if err != nil || ratelimit.Allowed(res) {
		return true // the in-memory limiter fails only for invalid requests
	}
	h.emitAS(r, rid, asEvent{kind: KindOAuthRegistration, result: audit.Deny, reason: "rate_limited"})
	if s, ok := ratelimit.Strictest(res); ok && s.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.RetryAfter.Seconds()))))
	}
	writeTokenError(w, rid, http.StatusTooManyRequests, "temporarily_unavailable", "too many registrations from this address; try again later")
	return false
}
