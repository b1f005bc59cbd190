package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
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
	var oc *oidcflow.Client
	if a.OIDC != nil {
		secret := ""
		if a.OIDC.ClientSecret != "" {
			if secret, err = resolveSecret("oidc: client_secret", a.OIDC.ClientSecret); err != nil {
				return err
			}
		}
		oc, err = oidcflow.New(oidcflow.Config{
			Issuer: a.OIDC.Issuer, ClientID: a.OIDC.ClientID, ClientSecret: secret,
			RedirectURL: a.OIDC.RedirectURL, PostLogoutRedirectURL: a.OIDC.PostLogoutRedirectURL,
			Scopes: a.OIDC.Scopes, GroupsClaims: a.OIDC.GroupsClaims,
			Keys: a.sessionKeys, Store: a.store, Cookie: cookie,
		})
		if err != nil {
			return fmt.Errorf("oidc: %w", err)
		}
	}
	cfg := session.Config{
		Store: a.store, Keys: a.sessionKeys, Cookie: cookie,
		IdleTimeout: time.Duration(a.Session.IdleTimeout), AbsoluteTimeout: time.Duration(a.Session.AbsoluteTimeout),
	}
	if oc != nil {
		cfg.Refresher = oc
		cfg.OnRefresh = func(subject string, err error) {
			ev := audit.Event{Kind: audit.KindRefresh, Result: audit.Allow, Subject: subject, AuthMethod: "session"}
			result := "ok"
			if err != nil {
				ev.Kind, ev.Result, ev.Reason, result = audit.KindRefreshFailed, audit.Deny, session.Reason(err), "error"
				if errors.Is(err, session.ErrRefreshTransient) {
					ev.Reason = "provider_unavailable"
				}
			}
			a.metrics.refreshes.WithLabelValues(result).Inc()
			a.emit(ev, audit.AllowAll)
		}
	}
	mgr, err := session.New(cfg)
	if err != nil {
		return err
	}
	a.sessions, a.oidc = mgr, oc
	if cookie.Insecure {
		a.logger.Warn("session cookies are sent without the Secure attribute (insecure_cookie): use this only for local development over plain http")
	}
	return nil
}

// cookieConfig turns the session block's cookie settings into the
// session package's.
func (s *SessionConfig) cookieConfig() (session.CookieConfig, error) {
	c := session.CookieConfig{Name: s.CookieName, Insecure: s.InsecureCookie}
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
// request sent upstream, keeping the application's own cookies.
func stripOurCookies(r *http.Request, name string) {
	if r.Header.Get("Cookie") == "" {
		return
	}
	cookies := r.Cookies()
	keep := cookies[:0]
	for _, c := range cookies {
		if c.Name != name && !strings.HasPrefix(c.Name, name+"-flow-") {
			keep = append(keep, c)
		}
	}
	if len(keep) == len(cookies) {
		return
	}
	r.Header.Del("Cookie")
	if len(keep) == 0 {
		return
	}
	parts := make([]string, len(keep))
	for i, c := range keep {
		parts[i] = c.Name + "=" + c.Value
	}
	r.Header.Set("Cookie", strings.Join(parts, "; "))
}

// writePage writes a page built by oidcflow.
func writePage(w http.ResponseWriter, p oidcflow.Page) {
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

// isUnavailable reports whether err means a dependency (store, IdP) is down.
func isUnavailable(err error) bool {
	return errors.Is(err, session.ErrUnavailable) || errors.Is(err, oidcflow.ErrUnavailable)
}
