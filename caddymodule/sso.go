package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// setupSSO builds the session manager and the OpenID Connect client from
// the resolved configuration. Neither does network I/O here.
func (a *App) setupSSO() error {
	if a.Session == nil {
		return nil
	}
	cookie, err := a.Session.cookieConfig()
	if err != nil {
		return err
	}
	sso, err := a.setupProviders(cookie)
	if err != nil {
		return err
	}
	a.pages = pages.Default()
	if a.Session.Pages != "" {
		if a.pages, err = pages.Load(a.Session.Pages); err != nil {
			return fmt.Errorf("session: pages: %w", err)
		}
	}
	cfg := session.Config{
		Store: a.store, Keys: a.sessionKeys, Cookie: cookie,
		IdleTimeout: time.Duration(a.Session.IdleTimeout), AbsoluteTimeout: time.Duration(a.Session.AbsoluteTimeout),
		RememberTimeout: time.Duration(a.Session.RememberMe), RememberIdleTimeout: time.Duration(a.Session.RememberMeIdle),
	}
	if sso != nil {
		cfg.Refresher = sso
		cfg.OnRefresh = func(subject string, err error) {
			ev := audit.Event{Kind: audit.KindRefresh, Result: audit.Allow, Subject: subject, AuthMethod: "session"}
			result := "ok"
			if err != nil {
				ev.Kind, ev.Result, ev.Reason, result = audit.KindRefreshFailed, audit.Deny, refreshReason(err), "error"
			}
			a.metrics.refreshes.WithLabelValues(result).Inc()
			a.emit(ev, audit.AllowAll)
		}
	}
	mgr, err := session.New(cfg)
	if err != nil {
		return err
	}
	a.sessions, a.sso = mgr, sso
	if cookie.Insecure {
		a.logger.Warn("session cookies are sent without the Secure attribute (insecure_cookie): use this only for local development over plain http")
	}
	return nil
}

// refreshReason is the audit reason of a failed refresh: the provider
// being unreachable (the session goes on), or why the provider's answer
// ended the session (refresh_refused for invalid_grant, id_token_invalid,
// userinfo_failed …).
func refreshReason(err error) string {
	switch {
	case errors.Is(err, session.ErrRefreshTransient) && errors.Is(err, oidcflow.ErrMisconfigured):
		return oidcflow.ReasonMisconfigured
	case errors.Is(err, session.ErrRefreshTransient):
		return "provider_unavailable"
	}
	if r := oidcflow.Reason(err); r != oidcflow.ReasonInternal {
		return r
	}
	return session.Reason(err)
}

// cookieConfig turns the session block's cookie settings into the
// session package's.
func (s *SessionConfig) cookieConfig() (session.CookieConfig, error) {
	c := session.CookieConfig{Name: s.CookieName, Insecure: s.InsecureCookie, Domain: strings.TrimSuffix(strings.ToLower(s.Domain), ".")}
	if c.Name == "" && c.Domain != "" && !c.Insecure {
		// The flow cookies' names derive from it, so resolve it here.
		c.Name = session.DefaultDomainCookieName
	}
	switch strings.ToLower(s.SameSite) {
	case "", "strict":
		c.SameSite = http.SameSiteStrictMode
	case "lax":
		c.SameSite = http.SameSiteLaxMode
	default:
		return c, fmt.Errorf("session: same_site %q must be strict or lax", s.SameSite)
	}
	return c, nil
}

// stripOurCookies removes the session and login-flow cookies from the
// request sent upstream, keeping the application's own cookies byte for
// byte. It reads the Cookie headers as they came and allocates only when
// one of ours is present.
func stripOurCookies(r *http.Request, name string) {
	values := r.Header["Cookie"]
	found := false
	for _, v := range values {
		if hasOurCookie(v, name) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var keep []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ";") {
			if p := strings.TrimSpace(part); p != "" && !isOurCookie(p, name) {
				keep = append(keep, p)
			}
		}
	}
	if len(keep) == 0 {
		delete(r.Header, "Cookie")
		return
	}
	r.Header["Cookie"] = []string{strings.Join(keep, "; ")}
}

// hasOurCookie reports whether the Cookie header value v holds one of ours.
func hasOurCookie(v, name string) bool {
	for part := range strings.SplitSeq(v, ";") {
		if isOurCookie(strings.TrimSpace(part), name) {
			return true
		}
	}
	return false
}

// isOurCookie reports whether the cookie pair "n=v" is the session cookie
// or a login-flow cookie. Browsers send names as set, so the match is exact.
func isOurCookie(pair, name string) bool {
	n, _, _ := strings.Cut(pair, "=")
	n = strings.TrimSpace(n)
	rest, ok := strings.CutPrefix(n, name)
	return ok && (rest == "" || strings.HasPrefix(rest, "-flow-"))
}

// writePage writes a page.
func writePage(w http.ResponseWriter, p pages.Page) {
	for k, vs := range p.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(p.Body)
}

// setCookies adds Set-Cookie headers.
func setCookies(w http.ResponseWriter, cs []*http.Cookie) {
	for _, c := range cs {
		http.SetCookie(w, c)
	}
}

// writeProviderError answers a login that failed at the identity
// provider: 502 when the provider cannot be used as configured (the
// cause is in the gateway's log, not in the answer), 503 when it is
// down.
func writeProviderError(w http.ResponseWriter, rid string, err error) {
	if errors.Is(err, oidcflow.ErrMisconfigured) {
		writeJSONError(w, rid, http.StatusBadGateway, "server_error", "sign-in is misconfigured at the gateway; the operator's log names the cause")
		return
	}
	writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "the identity provider cannot be reached; try again shortly")
}

// isUnavailable reports whether err means a dependency (store, IdP) is down.
func isUnavailable(err error) bool {
	return errors.Is(err, session.ErrUnavailable) || errors.Is(err, oidcflow.ErrUnavailable)
}
