package caddymodule

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
)

// maxLoginMaxAge bounds a max_age passed through the login URL.
const maxLoginMaxAge = 366 * 24 * time.Hour

// beginLogin answers a browser navigation that must log in: straight to
// the provider when one is certain (the session's own for a step-up, or
// the route's only one), else through the login endpoint, which shows
// the chooser. With a session domain, logins always go through the auth
// host, where the callback sets the domain's cookie.
func (h *Handler) beginLogin(w http.ResponseWriter, r *http.Request, rid string, opts oidcflow.LoginOptions, provider string) {
	ps := h.app.sso
	var p *loginProvider
	if provider != "" {
		p = ps.forSession(provider)
	} else if c := ps.candidates(h.Providers); len(c) == 1 {
		p = c[0]
	}
	if p != nil && !ps.offAuthHost(r) {
		h.startLoginAt(w, r, rid, p, opts)
		return
	}
	q := loginQuery(opts)
	if ps.authHost != "" && strings.HasPrefix(opts.ReturnTo, "/") {
		q.Set("return_to", requestOrigin(r, h.app.sessionInsecure())+opts.ReturnTo)
	}
	if p != nil {
		q.Set("provider", p.name)
	} else if len(h.Providers) > 0 {
		q.Set("only", strings.Join(h.Providers, ","))
	}
	target := ps.authOrigin + h.app.endpointPrefix + "login?" + q.Encode()
	if ps.authHost == "" {
		target = h.app.endpointPrefix + "login?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// loginQuery carries a login's options to the login endpoint.
func loginQuery(opts oidcflow.LoginOptions) url.Values {
	q := url.Values{}
	if opts.ReturnTo != "" {
		q.Set("return_to", opts.ReturnTo)
	}
	if opts.MaxAge > 0 {
		q.Set("max_age", strconv.FormatInt(int64(opts.MaxAge/time.Second), 10))
	}
	if len(opts.ACRValues) > 0 {
		q.Set("acr", strings.Join(opts.ACRValues, " "))
	}
	if opts.ForceLogin {
		q.Set("force", "1")
	}
	if opts.Remember {
		q.Set("remember", "1")
	}
	return q
}

// offAuthHost reports whether r reached another host than the auth host
// (when the session has a domain).
func (ps *loginProviders) offAuthHost(r *http.Request) bool {
	if ps.authHost == "" {
		return false
	}
	host := r.Host
	if h, _, err := splitHostPort(host); err == nil {
		host = h
	}
	return !strings.EqualFold(host, ps.authHost)
}

// splitHostPort splits host[:port], accepting a host without a port.
func splitHostPort(hostport string) (string, string, error) {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		return hostport[:i], hostport[i+1:], nil
	}
	return hostport, "", nil
}

// requestOrigin is the origin r was sent to (scheme from TLS, or http
// for insecure cookies in development; host from the Host header, which
// Caddy matched to this site).
func requestOrigin(r *http.Request, insecure bool) string {
	scheme := "https"
	if r.TLS == nil && insecure {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// sessionInsecure reports insecure (development) cookies.
func (a *App) sessionInsecure() bool { return a.Session != nil && a.Session.InsecureCookie }

// serveLogin answers the login endpoint: `provider` picks one (else the
// login_hint's email domain, else the only candidate, else the chooser
// page), `return_to` is where to go afterwards (a path, or a URL on a
// host of the session domain), `remember=1` asks for a remembered
// session, `only` limits the chooser, and max_age, acr and force carry a
// step-up through the auth host.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request, rid string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSONError(w, rid, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	ps := h.app.sso
	q := r.URL.Query()
	if ps.offAuthHost(r) {
		if rt := q.Get("return_to"); strings.HasPrefix(rt, "/") {
			q.Set("return_to", requestOrigin(r, h.app.sessionInsecure())+rt)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, ps.authOrigin+h.app.endpointPrefix+"login?"+q.Encode(), http.StatusFound)
		return
	}
	opts, bad := h.loginOptions(r, q)
	if bad != "" {
		writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", bad)
		return
	}
	cands := ps.list
	if only := q.Get("only"); only != "" {
		names := strings.Split(only, ",")
		cands = ps.candidates(names)
		if len(cands) != len(names) {
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "only names a provider that is not configured")
			return
		}
	}
	var p *loginProvider
	if name := q.Get("provider"); name != "" {
		if p = ps.byName(name); p == nil || !slices.Contains(cands, p) {
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "provider names no provider this login may use")
			return
		}
	} else if hint := q.Get("login_hint"); hint != "" {
		if e := ps.forEmail(hint); e != nil && slices.Contains(cands, e) {
			p = e
		}
	}
	if p == nil && len(cands) == 1 {
		p = cands[0]
	}
	if p == nil {
		h.serveChooser(w, r, rid, cands, opts)
		return
	}
	if hint := q.Get("login_hint"); hint != "" && p.cfg.LoginHintPassthrough {
		if !oidcflow.ValidLoginHint(hint) {
			writeJSONError(w, rid, http.StatusBadRequest, "invalid_request", "login_hint must be at most 256 printable characters")
			return
		}
		opts.LoginHint = hint
	}
	if !q.Has("provider") {
		h.startLoginAt(w, r, rid, p, opts)
		return
	}
	// A page, not a 302, when the provider was chosen (the chooser's form
	// sends it): browsers check form-action 'self' against every redirect
	// that follows a form submission, so a 302 to the provider would stop.
	red, err := h.loginRedirect(r, rid, p, opts)
	if err != nil {
		writeProviderError(w, rid, err)
		return
	}
	setCookies(w, red.SetCookies)
	h.sendOn(w, rid, red.URL)
}

// sendOn answers with a page that continues the navigation to target,
// an absolute URL of ours or the provider's.
func (h *Handler) sendOn(w http.ResponseWriter, rid, target string) {
	page, err := h.app.pages.ProviderRedirect(target)
	if err != nil {
		h.app.logger.Error("rendering the redirect page", zap.Error(err))
		writeJSONError(w, rid, http.StatusInternalServerError, "server_error", "the sign-in cannot continue")
		return
	}
	writePage(w, page)
}

// loginOptions reads the login endpoint's options; bad says what is
// wrong with them.
func (h *Handler) loginOptions(r *http.Request, q url.Values) (opts oidcflow.LoginOptions, bad string) {
	opts.ReturnTo = q.Get("return_to")
	// Remember-me only from our own page (the chooser's form): a link on
	// another site must not give a shared computer a long-lived session
	// the user did not ask for. Browsers say so with Sec-Fetch-Site.
	opts.Remember = q.Get("remember") == "1" && h.app.Session.RememberMe > 0 && r.Header.Get("Sec-Fetch-Site") == "same-origin"
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxLoginMaxAge {
			return opts, "max_age must be a number of seconds"
		}
		opts.MaxAge = time.Duration(n) * time.Second
	}
	if v := q.Get("acr"); v != "" {
		for a := range strings.FieldsSeq(v) {
			if len(a) > 256 || strings.ContainsFunc(a, func(r rune) bool { return r < '!' || r > '~' }) {
				return opts, "acr must be authentication context class references"
			}
			opts.ACRValues = append(opts.ACRValues, a)
		}
	}
	opts.ForceLogin = q.Get("force") == "1"
	return opts, ""
}

// serveChooser shows the providers to choose from.
func (h *Handler) serveChooser(w http.ResponseWriter, r *http.Request, rid string, cands []*loginProvider, opts oidcflow.LoginOptions) {
	data := pages.ChooserData{
		Title:       "Sign in",
		ReturnTo:    h.app.sso.list[0].client.ReturnPolicy().Safe(opts.ReturnTo),
		RememberMe:  h.app.Session.RememberMe > 0,
		Remembered:  opts.Remember,
		RememberFor: humanDuration(time.Duration(h.app.Session.RememberMe)),
		RequestID:   rid,
		Action:      h.app.endpointPrefix + "login",
	}
	for _, p := range cands {
		q := loginQuery(opts)
		q.Set("return_to", data.ReturnTo)
		q.Set("provider", p.name)
		data.Providers = append(data.Providers, pages.Provider{Name: p.name, Label: p.label, URL: h.app.endpointPrefix + "login?" + q.Encode()})
	}
	page, err := h.app.pages.Chooser(data)
	if err != nil {
		h.app.logger.Error("rendering the login chooser", zap.Error(err))
		writeJSONError(w, rid, http.StatusInternalServerError, "server_error", "the sign-in page cannot be shown")
		return
	}
	writePage(w, page)
}

// startLoginAt redirects a browser to provider p (a 302: for
// navigations, not form submissions).
func (h *Handler) startLoginAt(w http.ResponseWriter, r *http.Request, rid string, p *loginProvider, opts oidcflow.LoginOptions) {
	red, err := h.loginRedirect(r, rid, p, opts)
	if err != nil {
		writeProviderError(w, rid, err)
		return
	}
	setCookies(w, red.SetCookies)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, red.URL, http.StatusFound)
}

// loginRedirect starts a login at p; a failure is audited.
func (h *Handler) loginRedirect(r *http.Request, rid string, p *loginProvider, opts oidcflow.LoginOptions) (*oidcflow.Redirect, error) {
	red, err := p.client.StartLogin(r.Context(), opts)
	if err != nil {
		ev := h.ssoEvent(r, audit.KindLoginFailed, rid)
		ev.Result, ev.Reason = audit.Deny, oidcflow.Reason(err)
		h.app.emit(ev, h.sampler)
		return nil, err
	}
	red.SetCookies = append(p.client.ExcessFlowCookies(r), red.SetCookies...)
	return red, nil
}

// humanDuration writes d in days when it is whole days ("30 days").
func humanDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}
