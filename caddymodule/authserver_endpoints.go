package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/authserver"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/clientreg"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// fieldConsentCSRF carries the consent page's anti-forgery token.
const fieldConsentCSRF = "csrf"

// serveAuthServer answers the authorization server's endpoints under
// the endpoint prefix (name is the path after it); it reports false for
// other names, or when the app has no authorization server.
func (h *Handler) serveAuthServer(w http.ResponseWriter, r *http.Request, rid, name string) bool {
	as := h.app.authServer
	if as == nil {
		return false
	}
	sub, ok := strings.CutPrefix(name, authServerPath)
	if !ok {
		return false
	}
	switch sub {
	case "authorize":
		h.serveAuthorize(w, r, rid)
	case "consent":
		h.serveConsent(w, r, rid)
	case "token":
		h.serveToken(w, r, rid)
	case "revoke":
		h.serveRevoke(w, r, rid)
	case "register":
		h.serveRegister(w, r, rid)
	case "jwks.json":
		h.serveASKeys(w, r, rid)
	default:
		writeJSONError(w, rid, http.StatusNotFound, "not_found", "no such authorization server endpoint")
	}
	return true
}

// serveASMetadata answers RFC 8414 metadata requests; it reports false
// for paths that are not the server's metadata.
func (h *Handler) serveASMetadata(w http.ResponseWriter, r *http.Request, rid string) bool {
	as := h.app.authServer
	if as == nil || r.URL.Path != as.wellKnownPath() {
		return false
	}
	if preflight(w, r) {
		return true
	}
	p := h.app.endpointPrefix
	e := authserver.Endpoints{
		Authorization: as.endpointURL(p, "authorize"), Token: as.endpointURL(p, "token"),
		Revocation: as.endpointURL(p, "revoke"), JWKS: as.jwksURL(p), MetadataDocuments: on(as.cfg.ClientMetadataDocuments),
	}
	if on(as.cfg.DynamicRegistration) {
		e.Registration = as.endpointURL(p, "register")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(as.server.Metadata(e))
	return true
}

// serveASKeys answers the access tokens' public keys.
func (h *Handler) serveASKeys(w http.ResponseWriter, r *http.Request, rid string) {
	if preflight(w, r) {
		return
	}
	raw, err := h.app.authServer.server.JWKS(r.Context())
	if err != nil {
		h.app.logger.Error("authorization server keys", zap.Error(err))
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "the keys cannot be read right now; try again shortly")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(raw)
}

// preflight allows cross-origin reads of the endpoints that browser-based
// MCP clients call with fetch (metadata, keys, token, registration,
// revocation): none of them reads cookies. It answers an OPTIONS
// preflight itself and reports true.
func preflight(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// pendingAuth is an authorization request whose client and redirect
// URI are known good: later errors go back to the client.
type pendingAuth struct {
	client clientreg.Client
	req    authserver.AuthRequest
	raw    string // the request's query, for the consent form
}

// readAuthorize resolves the client, checks the redirect URI (errors:
// a page, never a redirect, RFC 6749 §4.1.2.1) and then the rest of the
// request (errors: back to the client). It reports false when it has
// answered.
func (h *Handler) readAuthorize(w http.ResponseWriter, r *http.Request, rid string, q url.Values) (*pendingAuth, bool) {
	as := h.app.authServer
	page := func(status int, reason, desc string) (*pendingAuth, bool) {
		h.emitAS(r, rid, asEvent{kind: KindOAuthAuthorization, result: audit.Deny, reason: reason, clientID: q.Get("client_id")})
		w.Header().Set("Cache-Control", "no-store")
		writeHTMLError(w, h.app.pages, rid, status, desc)
		return nil, false
	}
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	switch {
	case clientID == "" || len(q["client_id"]) > 1:
		return page(http.StatusBadRequest, "client_id_missing", "The application sent no client_id (or several).")
	case redirectURI == "" || len(q["redirect_uri"]) > 1:
		return page(http.StatusBadRequest, "redirect_uri_missing", "The application sent no redirect_uri (or several).")
	}
	c, err := as.clients.Resolve(r.Context(), clientID)
	if err != nil {
		status, reason, desc := clientError(err)
		if status != http.StatusServiceUnavailable {
			status = http.StatusBadRequest
		}
		return page(status, reason, "The application is not known to this gateway: "+desc)
	}
	if err := as.clients.CheckRedirectURI(c, redirectURI); err != nil {
		_, reason, _ := clientError(err)
		return page(http.StatusBadRequest, reason, "The application's redirect_uri is not one it registered.")
	}
	req, aerr := as.server.CheckAuthorize(q, c.ID, redirectURI)
	if aerr == nil && !slices.Contains(c.ResponseTypes, "code") && len(c.ResponseTypes) > 0 {
		aerr = &authserver.Error{Code: "unauthorized_client", Reason: "response_type_not_registered", Description: "the client did not register response_type code"}
	}
	if aerr != nil {
		h.emitAS(r, rid, asEvent{kind: KindOAuthAuthorization, result: audit.Deny, reason: aerr.Reason, clientID: c.ID, resource: req.Resource})
		h.redirectToClient(w, r, redirectURI, url.Values{"error": {aerr.Code}, "error_description": {aerr.Description}}, req.State, false)
		return nil, false
	}
	return &pendingAuth{client: c, req: req, raw: q.Encode()}, true
}

// clientError maps a clientreg error to a status, an audit reason and a
// description safe to show.
func clientError(err error) (int, string, string) {
	var ce *clientreg.Error
	if errors.As(err, &ce) {
		return ce.HTTPStatus(), ce.Reason, ce.Description
	}
	return http.StatusServiceUnavailable, "client_registry_error", "the client registry is unavailable"
}

// redirectToClient sends the browser to the client's redirect URI with
// params, the state and iss (RFC 9207). With page, it answers with a
// page that continues there rather than a 302 (after a form
// submission, whose form-action 'self' Chrome applies to redirects).
func (h *Handler) redirectToClient(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string, page bool) {
	u, err := url.Parse(redirectURI)
	if err != nil { // checked against the registration already
		writeJSONError(w, "", http.StatusBadRequest, "invalid_request", "bad redirect_uri")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", h.app.authServer.cfg.Issuer)
	u.RawQuery = q.Encode()
	target := u.String()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if page && (u.Scheme == "http" || u.Scheme == "https") {
		if p, err := h.app.pages.ProviderRedirect(target); err == nil {
			writePage(w, p)
			return
		}
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// serveAuthorize is the authorization endpoint (RFC 6749 §3.1): GET
// only; the user signs in through the gateway's login when needed and
// comes back here; with a remembered consent a code is issued at once,
// else the consent page is shown.
func (h *Handler) serveAuthorize(w http.ResponseWriter, r *http.Request, rid string) {
	if r.Method != http.MethodGet { // not even HEAD: it would issue a code
		writeHTMLError(w, h.app.pages, rid, http.StatusMethodNotAllowed, "Use GET.")
		return
	}
	q := r.URL.Query()
	pa, ok := h.readAuthorize(w, r, rid, q)
	if !ok {
		return
	}
	s, ok := h.authorizeSession(w, r, rid, pa, q)
	if !ok {
		return
	}
	scopes := h.grantableScopes(s, pa.req.Scopes)
	forceConsent := slices.Contains(strings.Fields(q.Get("prompt")), "consent")
	if !forceConsent {
		consented, err := h.app.authServer.server.HasConsent(r.Context(), s.Subject, pa.client.ID, pa.req.Resource, scopes)
		if err != nil {
			h.asUnavailable(w, rid, err)
			return
		}
		if consented {
			h.issueCode(w, r, rid, pa, s, scopes, false)
			return
		}
	}
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		h.emitAS(r, rid, asEvent{kind: KindOAuthAuthorization, result: audit.Deny, reason: "consent_required", subject: s.Subject, clientID: pa.client.ID, resource: pa.req.Resource})
		h.redirectToClient(w, r, pa.req.RedirectURI, url.Values{"error": {"consent_required"}}, pa.req.State, false)
		return
	}
	h.showConsent(w, r, rid, pa, s, scopes)
}

// authorizeSession returns the signed-in user's session, or answers:
// with no session (or one older than the request's max_age) the
// browser is sent to log in and come back to this very request.
func (h *Handler) authorizeSession(w http.ResponseWriter, r *http.Request, rid string, pa *pendingAuth, q url.Values) (*session.Session, bool) {
	s, err := h.app.sessions.Load(r.Context(), r)
	var maxAge time.Duration
	if v := q.Get("max_age"); v != "" {
		if n, perr := strconv.Atoi(v); perr == nil && n >= 0 && time.Duration(n)*time.Second <= maxLoginMaxAge {
			maxAge = time.Duration(n) * time.Second
		}
	}
	switch {
	case err == nil && maxAge > 0 && time.Since(s.Principal().AuthTime) > maxAge:
		h.beginLogin(w, r, rid, oidcflow.LoginOptions{ReturnTo: r.URL.RequestURI(), MaxAge: maxAge, ForceLogin: true}, s.Provider)
		return nil, false
	case err == nil:
		return s, true
	case isUnavailable(err):
		h.asUnavailable(w, rid, err)
		return nil, false
	}
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		h.emitAS(r, rid, asEvent{kind: KindOAuthAuthorization, result: audit.Deny, reason: "login_required", clientID: pa.client.ID, resource: pa.req.Resource})
		h.redirectToClient(w, r, pa.req.RedirectURI, url.Values{"error": {"login_required"}}, pa.req.State, false)
		return nil, false
	}
	if !errors.Is(err, session.ErrNoCookie) {
		http.SetCookie(w, h.app.sessions.ClearCookie())
	}
	h.beginLogin(w, r, rid, oidcflow.LoginOptions{ReturnTo: r.URL.RequestURI()}, "")
	return nil, false
}

// grantableScopes narrows the requested scopes to those the user has
// (the effective scopes of the session: what grants give the user's
// groups and claims, and what they imply).
func (h *Handler) grantableScopes(s *session.Session, requested []string) []string {
	has := h.effective(s.Principal()).Scopes
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if slices.Contains(has, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// showConsent renders the consent page.
func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request, rid string, pa *pendingAuth, s *session.Session, scopes []string) {
	p := s.Principal()
	user := p.Email
	if user == "" {
		user = p.Subject
	}
	var resName string
	for _, rc := range h.app.Resources {
		if rc.URI == pa.req.Resource {
			resName = rc.Name
		}
	}
	page, err := h.app.pages.Consent(pages.ConsentData{
		ClientName: pa.client.Name, ClientID: pa.client.ID, ClientURI: pa.client.URI, Unverified: pa.client.Kind == clientreg.KindDynamic,
		Resource: pa.req.Resource, ResourceName: resName, Scopes: scopes, User: user,
		Action: h.app.endpointPrefix + authServerPath + "consent", Request: pa.raw, CSRF: h.consentCSRF(s, pa.raw), RequestID: rid,
	})
	if err != nil {
		h.app.logger.Error("rendering the consent page", zap.Error(err))
		writeHTMLError(w, h.app.pages, rid, http.StatusInternalServerError, "The consent page cannot be shown.")
		return
	}
	writePage(w, page)
}

// consentCSRF binds a consent form to the session and the request.
func (h *Handler) consentCSRF(s *session.Session, request string) string {
	m := hmac.New(sha256.New, h.app.sessionKeys[0])
	m.Write([]byte("portcullis/consent\x00" + s.IDHash + "\x00" + request))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serveConsent takes the consent page's answer: POST, same-origin, with
// the anti-forgery token of this session and request. The request is
// checked again in full before anything is issued.
func (h *Handler) serveConsent(w http.ResponseWriter, r *http.Request, rid string) {
	if r.Method != http.MethodPost {
		writeHTMLError(w, h.app.pages, rid, http.StatusMethodNotAllowed, "Use the consent form.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !oidcflow.SameOrigin(r) {
		writeHTMLError(w, h.app.pages, rid, http.StatusForbidden, "The consent must come from this site.")
		return
	}
	raw := r.PostFormValue(pages.FieldRequest)
	q, err := url.ParseQuery(raw)
	if err != nil {
		writeHTMLError(w, h.app.pages, rid, http.StatusBadRequest, "The consent form is damaged; start again from the application.")
		return
	}
	s, err := h.app.sessions.Load(r.Context(), r)
	if err != nil {
		if isUnavailable(err) {
			h.asUnavailable(w, rid, err)
			return
		}
		writeHTMLError(w, h.app.pages, rid, http.StatusUnauthorized, "Your session ended; start again from the application.")
		return
	}
	if !hmac.Equal([]byte(r.PostFormValue(fieldConsentCSRF)), []byte(h.consentCSRF(s, raw))) {
		h.emitAS(r, rid, asEvent{kind: KindOAuthConsent, result: audit.Deny, reason: "csrf_mismatch", subject: s.Subject, clientID: q.Get("client_id")})
		writeHTMLError(w, h.app.pages, rid, http.StatusForbidden, "The consent form is not valid for this session; start again from the application.")
		return
	}
	pa, ok := h.readAuthorize(w, r, rid, q)
	if !ok {
		return
	}
	scopes := h.grantableScopes(s, pa.req.Scopes)
	if r.PostFormValue(pages.FieldDecision) != "allow" {
		h.emitAS(r, rid, asEvent{kind: KindOAuthConsent, result: audit.Deny, reason: "denied_by_user", subject: s.Subject, clientID: pa.client.ID, resource: pa.req.Resource, scopes: scopes})
		h.redirectToClient(w, r, pa.req.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the user denied access"}}, pa.req.State, true)
		return
	}
	if err := h.app.authServer.server.RememberConsent(r.Context(), s.Subject, pa.client.ID, pa.req.Resource, scopes); err != nil {
		h.asUnavailable(w, rid, err)
		return
	}
	h.emitAS(r, rid, asEvent{kind: KindOAuthConsent, result: audit.Allow, subject: s.Subject, clientID: pa.client.ID, resource: pa.req.Resource, scopes: scopes})
	h.issueCode(w, r, rid, pa, s, scopes, true)
}

// issueCode issues an authorization code and sends it to the client.
func (h *Handler) issueCode(w http.ResponseWriter, r *http.Request, rid string, pa *pendingAuth, s *session.Session, scopes []string, page bool) {
	p := s.Principal()
	id := authserver.Identity{Subject: p.Subject, Provider: p.Provider, Email: p.Email, Name: p.Name, ACR: p.ACR, AMR: p.AMR, AuthTime: p.AuthTime}
	code, err := h.app.authServer.server.IssueCode(r.Context(), pa.req, id, scopes)
	if err != nil {
		h.asUnavailable(w, rid, err)
		return
	}
	h.emitAS(r, rid, asEvent{kind: KindOAuthAuthorization, result: audit.Allow, subject: p.Subject, clientID: pa.client.ID, resource: pa.req.Resource, scopes: scopes})
	h.redirectToClient(w, r, pa.req.RedirectURI, url.Values{"code": {code}}, pa.req.State, page)
}

// asUnavailable answers a store failure.
func (h *Handler) asUnavailable(w http.ResponseWriter, rid string, err error) {
	h.app.logger.Warn("authorization server state unavailable", zap.Error(err))
	h.app.metrics.storeErrors.WithLabelValues("authserver").Inc()
	writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "the authorization server is unavailable; try again shortly")
}
