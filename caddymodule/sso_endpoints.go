package caddymodule

import (
	"context"
	"strings"

	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// maxLogoutTokenBody bounds a back-channel logout request body.
const maxLogoutTokenBody = 64 << 10

// ssoEvent is an audit event of the login endpoints.
func (h *Handler) ssoEvent(r *http.Request, kind audit.Kind, rid string) audit.Event {
	ev := requestEvent(r, kind, rid, h.Route)
	ev.Result = audit.Info
	return ev
}

// serveSSO answers login, callback, logout, backchannel-logout and
// whoami. It reports false for other names.
func (h *Handler) serveSSO(w http.ResponseWriter, r *http.Request, rid, name string) bool {
	if h.app.sessions == nil {
		return false
	}
	switch name {
	case "whoami":
		h.serveWhoami(w, r, rid)
	case "logout":
		h.serveLogout(w, r, rid)
	case "login", "callback", "backchannel-logout":
		if h.app.sso == nil {
			return false
		}
		switch name {
		case "login":
			h.serveLogin(w, r, rid)
		case "callback":
			h.serveCallback(w, r, rid, h.app.sso.forCallback(r))
		default:
			h.serveBackchannel(w, r, rid)
		}
	default:
		// callback/<provider>: a provider's own redirect URI, so that a
		// response can only be completed by the provider it came from.
		provider, ok := strings.CutPrefix(name, "callback/")
		if !ok || h.app.sso == nil {
			return false
		}
		p := h.app.sso.byName(provider)
		if p == nil {
			writeJSONError(w, rid, http.StatusNotFound, "not_found", "no such provider")
			return true
		}
		h.serveCallback(w, r, rid, p)
	}
	return true
}

// serveCallback completes a login at provider p (named by the callback
// path, or the one whose flow cookie the request carries) and starts the
// session.
func (h *Handler) serveCallback(w http.ResponseWriter, r *http.Request, rid string, p *loginProvider) {
	ps := h.app.sso
	res, err := p.client.Callback(r.Context(), r)
	if res != nil {
		setCookies(w, res.SetCookies)
	}
	ev := h.ssoEvent(r, audit.KindLogin, rid)
	if err != nil {
		ev.Kind, ev.Result, ev.Reason = audit.KindLoginFailed, audit.Deny, oidcflow.Reason(err)
		h.app.emit(ev, h.sampler)
		switch {
		case isUnavailable(err), errors.Is(err, oidcflow.ErrMisconfigured):
			writeProviderError(w, rid, err)
		case errors.Is(err, oidcflow.ErrFlowExpired):
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "the login took too long or was already used; start again at "+h.app.endpointPrefix+"login")
		default:
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "the login could not be completed")
		}
		return
	}
	login := res.Login
	login.Provider, login.Remember = p.name, res.Remember
	login.Subject = ps.subject(p, login.Subject)
	if ps.namespaced && login.Claims.SID != "" {
		login.Claims.SID = p.name + ":" + login.Claims.SID
	}
	s, cookie, err := h.app.sessions.Create(r.Context(), login)
	if err != nil {
		ev.Kind, ev.Result, ev.Reason = audit.KindLoginFailed, audit.Deny, session.Reason(err)
		h.app.emit(ev, h.sampler)
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable; try again shortly")
		return
	}
	http.SetCookie(w, cookie)
	ev = withPrincipal(ev, s.Principal())
	ev.Result, ev.SessionIDHash = audit.Allow, s.Principal().SessionID
	h.app.emit(ev, h.sampler)
	// Not a 302: with SameSite=Strict the browser would not send the new
	// cookie on a redirect that began cross-site at the provider. The
	// page continues the navigation from our own origin (or, for another
	// host of the session domain, from the same site).
	page, err := h.app.pages.Landing(p.client.ReturnPolicy().Safe(res.ReturnTo))
	if err != nil {
		h.app.logger.Error("rendering the landing page", zap.Error(err))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writePage(w, page)
}

// serveLogout shows the sign-out form (GET) or ends the session (POST,
// same-origin only); with the form field everywhere=1, every session of
// the user ends.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request, rid string) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		page, err := h.app.pages.SignOut(pages.SignOutData{Action: h.app.endpointPrefix + "logout", Everywhere: true, RequestID: rid})
		if err != nil {
			h.app.logger.Error("rendering the sign-out page", zap.Error(err))
			writeJSONError(w, rid, http.StatusInternalServerError, "server_error", "the sign-out page cannot be shown")
			return
		}
		writePage(w, page)
		return
	}
	if r.Method != http.MethodPost {
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if !oidcflow.SameOrigin(r) {
		writeJSONError(w, rid, http.StatusForbidden, "invalid_request", "logout must come from this site")
		return
	}
	s, clear, err := h.app.sessions.Logout(r.Context(), r)
	if clear != nil {
		http.SetCookie(w, clear)
	}
	if err != nil {
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable; try again shortly")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if s == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	ev := withPrincipal(h.ssoEvent(r, audit.KindLogout, rid), s.Principal())
	ev.SessionIDHash = s.Principal().SessionID
	var others []session.Tokens
	if r.PostFormValue("everywhere") == "1" {
		// End every session of this user, on every device; their tokens
		// are read first, to be revoked at the provider.
		var err error
		if others, err = h.app.sessions.SubjectTokens(r.Context(), s.Subject); err == nil {
			_, err = h.app.sessions.DeleteSubject(r.Context(), s.Subject)
		}
		if err != nil {
			writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable; try again shortly")
			return
		}
		ev.Reason = "everywhere"
	}
	h.app.emit(ev, h.sampler)
	if p := h.app.provider(s.Provider); p != nil {
		h.revokeAtProvider(r, p, append([]session.Tokens{s.Tokens}, others...))
		if u, err := p.client.LogoutURL(r.Context(), s.Tokens.IDToken, ""); err == nil {
			// A page rather than a Location header: the URL carries the ID
			// token hint, and access logs record response headers.
			if page, err := h.app.pages.ProviderRedirect(u); err == nil {
				writePage(w, page)
				return
			}
		}
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// revokeAtProvider revokes the refresh tokens of ended sessions (the
// one logged out, and with "everywhere" every other session of the user)
// at the provider (RFC 7009), best effort: the sessions are already gone here, and a failure
// is logged once by oidcflow and counted. It runs on a context the
// client cannot cancel, bounded by the provider client's own timeout.
func (h *Handler) revokeAtProvider(r *http.Request, p *loginProvider, tokens []session.Tokens) {
	ctx := context.WithoutCancel(r.Context())
	seen := map[string]bool{}
	for _, t := range tokens {
		if t.RefreshToken != "" {
			if seen[t.RefreshToken] {
				continue
			}
			seen[t.RefreshToken] = true
		}
		revoked, err := p.client.RevokeTokens(ctx, t)
		result := "revoked"
		switch {
		case err != nil:
			result = "error"
		case !revoked:
			result = "skipped"
		}
		h.app.metrics.revocations.WithLabelValues(result).Inc()
	}
}

func (h *Handler) serveBackchannel(w http.ResponseWriter, r *http.Request, rid string) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutTokenBody)
	ev := h.ssoEvent(r, audit.KindBackchannelLogout, rid)
	p, lt, err := h.app.sso.verifyLogoutToken(r.Context(), r.PostFormValue("logout_token"))
	if err != nil {
		ev.Result, ev.Reason = audit.Deny, oidcflow.Reason(err)
		h.app.emit(ev, h.sampler)
		if isUnavailable(err) {
			writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "the identity provider cannot be reached")
			return
		}
		writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "the logout token is not valid")
		return
	}
	sub, sid := lt.Subject, lt.SID
	if sub != "" {
		sub = h.app.sso.subject(p, sub)
	}
	if sid != "" && h.app.sso.namespaced {
		sid = p.name + ":" + sid
	}
	if _, err := h.app.sessions.BackchannelLogout(r.Context(), sub, sid); err != nil {
		ev.Result, ev.Reason = audit.Deny, session.Reason(err)
		h.app.emit(ev, h.sampler)
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable")
		return
	}
	ev.Result, ev.Subject = audit.Allow, sub
	h.app.emit(ev, h.sampler)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) serveWhoami(w http.ResponseWriter, r *http.Request, rid string) {
	s, err := h.app.sessions.Load(r.Context(), r)
	if err != nil {
		if isUnavailable(err) {
			writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "sessions are unavailable")
			return
		}
		if !errors.Is(err, session.ErrNoCookie) {
			http.SetCookie(w, h.app.sessions.ClearCookie())
		}
		writeChallenge(w, rid, h.Realm, challenge{status: http.StatusUnauthorized, bare: true, description: "no session"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(h.whoamiInfo(s))
}
