package caddymodule

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/vault"
)

// The vault's endpoints, under the endpoint prefix:
//
//	connect/<name>           GET: what will be connected; POST (same
//	                         origin, csrf): start the authorization code
//	                         flow at the provider
//	connect/<name>/callback  the redirect URI to register at the provider
//	connections              the user's connections (HTML, or JSON for
//	                         Accept: application/json)
//	disconnect/<name>        POST (same origin, csrf): forget the
//	                         connection and revoke its tokens (RFC 7009)
//
// Only a user with a browser session can use them; a connect flow is
// bound to the session that started it.

// serveVault answers the vault's endpoints; it reports false for other
// names.
func (h *Handler) serveVault(w http.ResponseWriter, r *http.Request, rid, name string) bool {
	uv := h.app.vault
	if uv == nil || h.app.sessions == nil {
		return false
	}
	var provider, action string
	switch {
	case name == "connections":
		action = "connections"
	case strings.HasPrefix(name, "connect/"):
		provider, action = strings.TrimPrefix(name, "connect/"), "connect"
		if p, ok := strings.CutSuffix(provider, "/callback"); ok {
			provider, action = p, "callback"
		}
	case strings.HasPrefix(name, "disconnect/"):
		provider, action = strings.TrimPrefix(name, "disconnect/"), "disconnect"
	default:
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	var up *upstreamProvider
	if action != "connections" {
		if up = uv.byName[provider]; up == nil {
			writeJSONError(w, rid, http.StatusNotFound, "not_found", "no such upstream provider")
			return true
		}
	}
	// The callback may arrive without the session cookie (SameSite=Strict
	// after a cross-site redirect): it continues from this origin first.
	if action == "callback" && h.resumeCallback(w, r) {
		return true
	}
	s, ok := h.vaultSession(w, r, rid)
	if !ok {
		return true
	}
	switch action {
	case "connections":
		h.serveConnections(w, r, rid, s)
	case "connect":
		h.serveConnect(w, r, rid, s, up)
	case "callback":
		h.serveConnectCallback(w, r, rid, s, up)
	default:
		h.serveDisconnect(w, r, rid, s, up)
	}
	return true
}

// vaultSession loads the browser session the vault's endpoints need. A
// browser without one is sent to log in (and back); others get 401.
func (h *Handler) vaultSession(w http.ResponseWriter, r *http.Request, rid string) (*session.Session, bool) {
	s, err := h.app.sessions.Load(r.Context(), r)
	switch {
	case err == nil:
		return s, true
	case isUnavailable(err):
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable; try again shortly")
		return nil, false
	case !errors.Is(err, session.ErrNoCookie):
		http.SetCookie(w, h.app.sessions.ClearCookie())
	}
	if h.app.sso != nil && oidcflow.IsBrowserNavigation(r) {
		h.beginLogin(w, r, rid, oidcflow.LoginOptions{ReturnTo: r.URL.RequestURI()}, "")
		return nil, false
	}
	writeChallenge(w, rid, h.Realm, challenge{status: http.StatusUnauthorized, bare: true, description: "sign in first: connecting an upstream account needs a browser session"})
	return nil, false
}

// resumeParam marks a callback that was continued from this origin.
const resumeParam = "pcl_resumed"

// resumeCallback answers a callback that carries no session cookie and
// was not yet continued with a page that loads it again from this
// origin, where the browser sends the SameSite=Strict session cookie
// (as the login's landing page does). It reports whether it answered.
func (h *Handler) resumeCallback(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Has(resumeParam) || r.Method != http.MethodGet {
		return false
	}
	if _, err := r.Cookie(h.app.sessions.CookieName()); err == nil {
		return false
	}
	q := r.URL.Query()
	q.Set(resumeParam, "1")
	page, err := h.app.pages.Landing(r.URL.Path + "?" + q.Encode())
	if err != nil {
		return false
	}
	writePage(w, page)
	return true
}

// connectAction and friends are the endpoint paths of provider name.
func (a *App) connectAction(name string) string    { return a.endpointPrefix + "connect/" + name }
func (a *App) disconnectAction(name string) string { return a.endpointPrefix + "disconnect/" + name }

// serveConnections lists the user's connections.
func (h *Handler) serveConnections(w http.ResponseWriter, r *http.Request, rid string, s *session.Session) {
	uv := h.app.vault
	subject := s.Principal().Subject
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	names := make([]string, len(uv.order))
	for i, up := range uv.order {
		names[i] = up.cfg.Name
	}
	statuses, err := uv.v.List(r.Context(), subject, names)
	if err != nil {
		h.app.vaultStoreError()
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "connections are unavailable; try again shortly")
		return
	}
	byName := map[string]vault.Status{}
	for _, st := range statuses {
		byName[st.Provider] = st
	}
	if !oidcflow.IsBrowserNavigation(r) && strings.Contains(r.Header.Get("Accept"), "application/json") {
		type item struct {
			Provider       string    `json:"provider"`
			Label          string    `json:"label"`
			Connected      bool      `json:"connected"`
			NeedsReconnect bool      `json:"needs_reconnect,omitempty"`
			Scopes         []string  `json:"scopes,omitempty"`
			ConnectedAt    time.Time `json:"connected_at,omitzero"`
			ConnectURL     string    `json:"connect_url"`
		}
		out := struct {
			Connections []item `json:"connections"`
		}{Connections: []item{}}
		for _, up := range uv.order {
			st, ok := byName[up.cfg.Name]
			out.Connections = append(out.Connections, item{Provider: up.cfg.Name, Label: up.cfg.label(), Connected: ok, NeedsReconnect: st.NeedsReconnect,
				Scopes: st.Scopes, ConnectedAt: st.Connected, ConnectURL: h.app.connectAction(up.cfg.Name)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	d := pages.ConnectionsData{CSRF: uv.csrfToken(s.IDHash), RequestID: rid}
	for _, up := range uv.order {
		st, ok := byName[up.cfg.Name]
		c := pages.Connection{Name: up.cfg.Name, Label: up.cfg.label(), Scopes: up.cfg.Scopes, Connected: ok, NeedsReconnect: st.NeedsReconnect,
			ConnectAction: h.app.connectAction(up.cfg.Name), DisconnectAction: h.app.disconnectAction(up.cfg.Name)}
		if ok {
			c.Since = st.Connected.UTC().Format(time.DateOnly)
			if len(st.Scopes) > 0 {
				c.Scopes = st.Scopes
			}
		}
		d.Connections = append(d.Connections, c)
	}
	h.writeVaultPage(w, rid, d)
}

// serveConnect shows what will be connected (GET) or starts the
// authorization code flow at the provider (POST, same origin, csrf).
func (h *Handler) serveConnect(w http.ResponseWriter, r *http.Request, rid string, s *session.Session, up *upstreamProvider) {
	uv := h.app.vault
	badReturn := func(returnTo string) bool {
		if returnTo != "" && !oidcflow.ValidReturnPath(returnTo) {
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "return_to must be a path on this site")
			return true
		}
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		returnTo := r.URL.Query().Get(pages.FieldReturnTo)
		if badReturn(returnTo) {
			return
		}
		h.writeVaultPage(w, rid, pages.ConnectionsData{
			Title: "Connect " + up.cfg.label(), Confirm: true, CSRF: uv.csrfToken(s.IDHash), ReturnTo: returnTo, RequestID: rid,
			Connections: []pages.Connection{{Name: up.cfg.Name, Label: up.cfg.label(), Scopes: up.cfg.Scopes, ConnectAction: h.app.connectAction(up.cfg.Name)}},
		})
		return
	case http.MethodPost:
	default:
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use GET or POST")
		return
	}
	if !h.vaultFormAllowed(w, r, rid, s) {
		return
	}
	returnTo := r.PostFormValue(pages.FieldReturnTo)
	if badReturn(returnTo) {
		return
	}
	p := s.Principal()
	state, flow, err := uv.v.Begin(r.Context(), vault.Flow{Provider: up.cfg.Name, Subject: p.Subject, SessionHash: s.IDHash, ReturnTo: returnTo})
	if err != nil {
		h.app.vaultStoreError()
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "connections are unavailable; try again shortly")
		return
	}
	target := up.p.AuthCodeURL(state, flow, h.redirectURL(r, up))
	// A page, not a 302: the form's CSP (form-action 'self') also
	// applies to redirects after the submission in Chrome and Safari.
	page, err := h.app.pages.ProviderRedirect(target)
	if err != nil {
		h.app.logger.Error("rendering the provider redirect page", zap.String("upstream", up.cfg.Name), zap.Error(err))
		writeJSONError(w, rid, http.StatusInternalServerError, "server_error", "the connect page cannot be shown")
		return
	}
	writePage(w, page)
}

// redirectURL is the callback URL registered at the provider.
func (h *Handler) redirectURL(r *http.Request, up *upstreamProvider) string {
	if up.cfg.RedirectURL != "" {
		return up.cfg.RedirectURL
	}
	return requestOrigin(r, h.app.sessionInsecure()) + h.app.connectAction(up.cfg.Name) + "/callback"
}

// serveConnectCallback completes a connect flow: the state must be one
// this session started for this provider, the issuer (when the provider
// names it) the configured one; the code is exchanged (with the PKCE
// verifier) and the tokens are stored.
func (h *Handler) serveConnectCallback(w http.ResponseWriter, r *http.Request, rid string, s *session.Session, up *upstreamProvider) {
	uv := h.app.vault
	p := s.Principal()
	ev := withPrincipal(h.ssoEvent(r, kindVaultConnect, rid), p)
	fail := func(reason, desc string, status int) {
		ev.Kind, ev.Result, ev.Reason = kindVaultConnectFailed, audit.Deny, reason
		h.app.emitVault(ev, up.cfg.Name)
		h.app.countVault(up.cfg.Name, "connect", "error")
		if oidcflow.IsBrowserNavigation(r) {
			writeHTMLError(w, h.app.pages, rid, status, desc)
			return
		}
		code := "invalid_request"
		if status >= 500 {
			code = "temporarily_unavailable"
		}
		writeJSONError(w, rid, status, code, desc)
	}
	q := r.URL.Query()
	flow, err := uv.v.Complete(r.Context(), q.Get("state"))
	switch {
	case errors.Is(err, vault.ErrUnavailable):
		h.app.vaultStoreError()
		fail("store_unavailable", "connections are unavailable; try again shortly", http.StatusServiceUnavailable)
		return
	case err != nil:
		fail("state_mismatch", "this connection attempt is unknown, expired or already used; start again at "+h.app.connectAction(up.cfg.Name), http.StatusBadRequest)
		return
	case flow.Provider != up.cfg.Name:
		fail("state_mismatch", "this answer belongs to another provider's connection attempt; start again", http.StatusBadRequest)
		return
	case !flow.SameSession(s.IDHash) || flow.Subject != p.Subject:
		fail("session_mismatch", "this connection attempt was started in another session; start again at "+h.app.connectAction(up.cfg.Name), http.StatusForbidden)
		return
	}
	if err := up.p.CheckIssuer(q.Get("iss")); err != nil {
		fail("issuer_mismatch", "the answer comes from another issuer; start again", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		reason := "provider_error"
		if e == "access_denied" {
			reason = "access_denied"
		}
		fail(reason, up.cfg.label()+" did not grant access", http.StatusForbidden)
		return
	}
	code := q.Get("code")
	if code == "" {
		fail("missing_code", "the answer carries no authorization code", http.StatusBadRequest)
		return
	}
	// On a context the client cannot cancel: a redeemed code is gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), vault.DefaultHTTPTimeout)
	defer cancel()
	tokens, err := up.p.Exchange(ctx, code, flow, h.redirectURL(r, up))
	if err != nil {
		h.app.logger.Warn("connecting an upstream account: code exchange failed", zap.String("upstream", up.cfg.Name), zap.String("request_id", rid), zap.Error(err))
		fail("exchange_failed", "the connection to "+up.cfg.label()+" could not be completed", http.StatusBadGateway)
		return
	}
	if tokens.AccessToken == "" {
		fail("exchange_failed", "the connection to "+up.cfg.label()+" could not be completed", http.StatusBadGateway)
		return
	}
	if _, err := uv.v.Connect(ctx, p.Subject, up.cfg.Name, tokens); err != nil {
		h.app.vaultStoreError()
		fail("store_unavailable", "connections are unavailable; try again shortly", http.StatusServiceUnavailable)
		return
	}
	ev.Result, ev.GrantedScopes = audit.Allow, tokens.Scopes
	h.app.emitVault(ev, up.cfg.Name)
	h.app.countVault(up.cfg.Name, "connect", "ok")
	next := flow.ReturnTo
	if next == "" {
		next = h.app.endpointPrefix + "connections"
	}
	page, err := h.app.pages.Landing(next)
	if err != nil {
		http.Redirect(w, r, h.app.endpointPrefix+"connections", http.StatusSeeOther)
		return
	}
	writePage(w, page)
}

// serveDisconnect forgets a connection (POST, same origin, csrf) and
// revokes its tokens at the provider when it has a revocation endpoint.
func (h *Handler) serveDisconnect(w http.ResponseWriter, r *http.Request, rid string, s *session.Session, up *upstreamProvider) {
	if r.Method != http.MethodPost {
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if !h.vaultFormAllowed(w, r, rid, s) {
		return
	}
	p := s.Principal()
	c, err := h.app.vault.v.Remove(r.Context(), p.Subject, up.cfg.Name)
	if err != nil {
		h.app.vaultStoreError()
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "connections are unavailable; try again shortly")
		return
	}
	ev := withPrincipal(h.ssoEvent(r, kindVaultDisconnect, rid), p)
	ev.Result = audit.Allow
	if c == nil {
		ev.Result, ev.Reason = audit.Info, "not_connected"
	} else {
		ev.Reason = h.revokeUpstream(r, up, c)
	}
	h.app.emitVault(ev, up.cfg.Name)
	h.app.countVault(up.cfg.Name, "disconnect", "ok")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"provider": up.cfg.Name, "connected": false, "request_id": rid})
		return
	}
	http.Redirect(w, r, h.app.endpointPrefix+"connections", http.StatusSeeOther)
}

// revokeUpstream revokes a removed connection's tokens (the access
// token, then the refresh token, which ends the grant; revoking the
// refresh token first would often end the access token with it, and the
// second request would find nothing live), best effort, and
// returns the audit reason: revoked, revocation_failed, or
// revocation_unsupported.
func (h *Handler) revokeUpstream(r *http.Request, up *upstreamProvider, c *vault.Connection) string {
	if up.cfg.RevocationEndpoint == "" {
		return "revocation_unsupported"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), vault.DefaultHTTPTimeout)
	defer cancel()
	reason := "revoked"
	for _, t := range []struct{ token, hint string }{{c.AccessToken, "access_token"}, {c.RefreshToken, "refresh_token"}} {
		if t.token == "" {
			continue
		}
		if _, err := up.p.Revoke(ctx, t.token, t.hint); err != nil {
			h.app.logger.Warn("revoking an upstream token", zap.String("upstream", up.cfg.Name), zap.String("token_type_hint", t.hint), zap.Error(err))
			h.app.countVault(up.cfg.Name, "revoke", "error")
			reason = "revocation_failed"
			continue
		}
		h.app.countVault(up.cfg.Name, "revoke", "ok")
	}
	return reason
}

// vaultFormAllowed checks a POST to the vault's endpoints: from this
// site (Sec-Fetch-Site or Origin) and with the session's CSRF token.
func (h *Handler) vaultFormAllowed(w http.ResponseWriter, r *http.Request, rid string, s *session.Session) bool {
	if !oidcflow.SameOrigin(r) {
		writeJSONError(w, rid, http.StatusForbidden, "invalid_request", "this form must be sent from this site")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !h.app.vault.csrfValid(s.IDHash, r.PostFormValue(pages.FieldCSRF)) {
		writeJSONError(w, rid, http.StatusForbidden, "invalid_request", "the form is stale or forged; reload the page and try again")
		return false
	}
	return true
}

// writeVaultPage writes the connections page.
func (h *Handler) writeVaultPage(w http.ResponseWriter, rid string, d pages.ConnectionsData) {
	page, err := h.app.pages.Connections(d)
	if err != nil {
		h.app.logger.Error("rendering the connections page", zap.Error(err))
		writeJSONError(w, rid, http.StatusInternalServerError, "server_error", "the connections page cannot be shown")
		return
	}
	writePage(w, page)
}

// deriveCSRFKey derives the key of the vault forms' CSRF tokens from the
// first session key.
func deriveCSRFKey(secret []byte) []byte {
	k, err := hkdf.Key(sha256.New, secret, []byte("portcullis vault csrf v1"), "portcullis/vault-csrf", 32)
	if err != nil {
		panic("upstream_oauth: hkdf: " + err.Error()) // only for absurd lengths
	}
	return k
}

// csrfToken is the CSRF token of the session with id hash sessionHash:
// HMAC-SHA256 of it, so it needs no storage and dies with the session.
func (uv *upstreamVault) csrfToken(sessionHash string) string {
	m := hmac.New(sha256.New, uv.csrfKey)
	m.Write([]byte(sessionHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid compares a presented CSRF token in constant time.
func (uv *upstreamVault) csrfValid(sessionHash, got string) bool {
	return got != "" && hmac.Equal([]byte(uv.csrfToken(sessionHash)), []byte(got))
}

// connectURL is the absolute URL of provider name's connect page, with
// returnTo.
func (h *Handler) connectURL(r *http.Request, name, returnTo string) string {
	u := requestOrigin(r, h.app.sessionInsecure()) + h.app.connectAction(name)
	if returnTo != "" && oidcflow.ValidReturnPath(returnTo) {
		u += "?" + url.Values{pages.FieldReturnTo: {returnTo}}.Encode()
	}
	return u
}
