package oidcprovider

import (
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the provider's own pages (the rest belongs to the op package).
const (
	// PathLogin is the login page; op redirects auth requests to it with the
	// query parameter authRequestID.
	PathLogin = "/login"
	// PathLoggedOut is the page end_session redirects to when the request
	// named no (valid) post_logout_redirect_uri. It shows #logged-out.
	PathLoggedOut = "/logged-out"
)

// loginPage is the login form. Stable element ids: #username, #password,
// #otp (the optional second factor), #login (submit), #error (only after
// a failed attempt), #client, #mfa-required (only when the request asks
// for a second factor).
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
<p>to <span id="client">{{.ClientID}}</span></p>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
{{if .MFARequired}}<p id="mfa-required">This application asks for a second factor: enter your one-time password too.</p>{{end}}
<form id="login-form" method="post" action="{{.Action}}">
<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<p><label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><label for="otp">One-time password (optional)</label>
<input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code"></p>
<p><button id="login" type="submit">Sign in</button></p>
</form>
</body>
</html>
`))

// loggedOutPage is shown after a logout with no post-logout redirect.
const loggedOutPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1 id="logged-out">You are signed out</h1></body></html>
`

// loginView is the data of loginPage.
type loginView struct {
	Action, AuthRequestID, ClientID, Username, Error string
	MFARequired                                      bool
}

// handleLogin serves the login form (GET) and checks credentials (POST).
// A browser that already has a provider session is signed in silently
// unless the request says prompt=login, its max_age has passed, or it asks
// for a second factor the session did not show (see ACRMultiFactor);
// prompt=none without a usable session answers login_required to the client.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		p.showLogin(w, r)
	case http.MethodPost:
		p.submitLogin(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// showLogin handles GET /login.
func (p *Provider) showLogin(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	ar, err := p.store.authRequest(id)
	if err != nil {
		http.Error(w, "unknown or expired auth request", http.StatusBadRequest)
		return
	}
	var sess *session
	if c, err := r.Cookie(SessionCookie); err == nil {
		sess, _ = p.store.lookupSession(c.Value)
	}
	usable := sess != nil && !slices.Contains(ar.prompt, oidc.PromptLogin) &&
		(ar.maxAge == nil || time.Since(sess.authTime) <= time.Duration(*ar.maxAge)*time.Second) &&
		(!ar.mfaRequested() || sess.auth.multiFactor())
	switch {
	case usable:
		p.finishLogin(w, r, id, sess)
	case slices.Contains(ar.prompt, oidc.PromptNone):
		op.AuthRequestError(w, r, ar, oidc.ErrLoginRequired(), p.authorizer)
	default:
		p.renderLogin(w, http.StatusOK, loginView{AuthRequestID: id, ClientID: ar.clientID, Username: ar.loginHint, MFARequired: ar.mfaRequested()})
	}
}

// submitLogin handles POST /login.
func (p *Provider) submitLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse form", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("authRequestID")
	ar, err := p.store.authRequest(id)
	if err != nil {
		http.Error(w, "unknown or expired auth request", http.StatusBadRequest)
		return
	}
	username := r.PostForm.Get("username")
	u, ok := p.store.checkPassword(username, r.PostForm.Get("password"))
	if !ok {
		p.renderLogin(w, http.StatusUnauthorized, loginView{
			AuthRequestID: id, ClientID: ar.clientID, Username: username, MFARequired: ar.mfaRequested(),
			Error: "Invalid username or password.",
		})
		return
	}
	auth := passwordOnly
	if otp := r.PostForm.Get("otp"); otp != "" || ar.mfaRequested() {
		if !checkOTP(u, otp) {
			p.renderLogin(w, http.StatusUnauthorized, loginView{
				AuthRequestID: id, ClientID: ar.clientID, Username: username, MFARequired: ar.mfaRequested(),
				Error: "Invalid or missing one-time password.",
			})
			return
		}
		auth = withOTP
	}
	sess := p.store.newSession(u.ID, auth)
	http.SetCookie(w, sessionCookieFor(sess.id))
	p.finishLogin(w, r, id, sess)
}

// finishLogin marks the auth request authenticated and sends the browser to
// op's callback, which redirects to the client with the code.
func (p *Provider) finishLogin(w http.ResponseWriter, r *http.Request, id string, sess *session) {
	if err := p.store.completeAuthRequest(id, sess); err != nil {
		http.Error(w, "completing auth request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusSeeOther)
}

// renderLogin writes the login form.
func (p *Provider) renderLogin(w http.ResponseWriter, status int, v loginView) {
	v.Action = PathLogin
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := loginPage.Execute(w, v); err != nil && p.logf != nil {
		p.logf("oidcprovider: rendering login page: %v", err)
	}
}

// handleLoggedOut serves PathLoggedOut.
func (p *Provider) handleLoggedOut(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(loggedOutPage))
}
