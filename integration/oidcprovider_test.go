package integration_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// These tests prove the harness end to end, with no mocks: a real provider
// (zitadel/oidc's op), a real headless Chromium and a relying party built
// from golang.org/x/oauth2 and github.com/coreos/go-oidc/v3.

var alice = oidcprovider.User{
	ID: "u-alice", Username: "alice", Password: "wonderland",
	Email: "alice@example.test", EmailVerified: true, Name: "Alice Liddell",
	Groups: []string{"admins", "readers"},
}

// rpLogin is what the relying party learned from one completed login.
type rpLogin struct {
	token   *oauth2.Token
	rawID   string
	idToken *gooidc.IDToken
	claims  struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		Groups        []string `json:"groups"`
		AuthTime      int64    `json:"auth_time"`
		AMR           []string `json:"amr"`
		SID           string   `json:"sid"`
	}
}

// relyingParty is a minimal OIDC client on 127.0.0.1: /start begins a code
// flow with PKCE S256, state and nonce; /callback exchanges the code and
// verifies the ID token; /bye is its post-logout page.
type relyingParty struct {
	t        *testing.T
	srv      *httptest.Server
	conf     *oauth2.Config
	authOpts []oauth2.AuthCodeOption // more authorization request parameters
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	logins   chan rpLogin
	mu       sync.Mutex
	errs     []error
}

// newRP starts a relying party, registers client (with the RP's redirect
// and post-logout URIs filled in) and discovers the provider. With
// offline_access in scopes it sends prompt=consent, without which a
// provider must ignore offline_access (OpenID Connect Core 1.0 §11).
func newRP(t *testing.T, p *oidcprovider.Provider, client oidcprovider.Client, scopes ...string) *relyingParty {
	t.Helper()
	rp := &relyingParty{t: t, logins: make(chan rpLogin, 4)}
	if slices.Contains(scopes, gooidc.ScopeOfflineAccess) {
		rp.authOpts = append(rp.authOpts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", rp.start)
	mux.HandleFunc("/callback", rp.callback)
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<h1 id="bye">bye</h1><p id="state">%s</p>`, html.EscapeString(r.URL.Query().Get("state")))
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)

	client.RedirectURIs = []string{rp.srv.URL + "/callback"}
	client.PostLogoutRedirectURIs = []string{rp.srv.URL + "/bye"}
	p.AddClient(client) // after the provider started: must work
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if rp.provider, err = gooidc.NewProvider(ctx, p.Issuer()); err != nil {
		t.Fatalf("discovering provider %s: %v", p.Issuer(), err)
	}
	rp.verifier = rp.provider.Verifier(&gooidc.Config{ClientID: client.ID})
	rp.conf = &oauth2.Config{
		ClientID: client.ID, ClientSecret: client.Secret,
		Endpoint: rp.provider.Endpoint(), RedirectURL: client.RedirectURIs[0],
		Scopes: append([]string{gooidc.ScopeOpenID, "profile", "email"}, scopes...),
	}
	t.Cleanup(func() {
		rp.mu.Lock()
		defer rp.mu.Unlock()
		for _, err := range rp.errs {
			t.Errorf("relying party: %v", err)
		}
	})
	return rp
}

func (rp *relyingParty) start(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	for name, v := range map[string]string{"state": state, "nonce": nonce, "verifier": verifier} {
		http.SetCookie(w, &http.Cookie{Name: "rp_" + name, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, rp.authOpts...)
	http.Redirect(w, r, rp.conf.AuthCodeURL(state, opts...), http.StatusFound)
}

// callback completes the code flow; failures are reported at cleanup.
func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	l, err := rp.complete(r)
	if err != nil {
		rp.mu.Lock()
		rp.errs = append(rp.errs, err)
		rp.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rp.logins <- l
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<h1 id="welcome">Welcome %s</h1>`, l.claims.Email)
}

// complete checks state, exchanges the code with the PKCE verifier, and
// verifies the ID token and its nonce.
func (rp *relyingParty) complete(r *http.Request) (l rpLogin, err error) {
	cookie := func(name string) string {
		if c, err := r.Cookie("rp_" + name); err == nil {
			return c.Value
		}
		return ""
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return l, fmt.Errorf("provider answered error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") == "" || q.Get("state") != cookie("state") {
		return l, fmt.Errorf("state mismatch: got %q, cookie %q", q.Get("state"), cookie("state"))
	}
	if l.token, err = rp.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(cookie("verifier"))); err != nil {
		return l, fmt.Errorf("exchanging code: %w", err)
	}
	l.rawID, _ = l.token.Extra("id_token").(string)
	if l.idToken, err = rp.verifier.Verify(r.Context(), l.rawID); err != nil {
		return l, fmt.Errorf("verifying ID token: %w", err)
	}
	if l.idToken.Nonce != cookie("nonce") {
		return l, fmt.Errorf("nonce mismatch: token %q, cookie %q", l.idToken.Nonce, cookie("nonce"))
	}
	if err := l.idToken.Claims(&l.claims); err != nil {
		return l, fmt.Errorf("decoding ID token claims: %w", err)
	}
	return l, nil
}

// login drives the browser through the RP's login and returns the result.
func (rp *relyingParty) login(b *browser.Browser, username, password string) rpLogin {
	rp.t.Helper()
	b.Navigate(rp.srv.URL + "/start")
	b.WaitVisible("#username")
	b.Login(username, password)
	return rp.awaitLogin(b)
}

// awaitLogin waits for the browser to land on the RP's welcome page.
func (rp *relyingParty) awaitLogin(b *browser.Browser) rpLogin {
	rp.t.Helper()
	b.WaitURL(rp.srv.URL + "/callback")
	b.WaitVisible("#welcome")
	select {
	case l := <-rp.logins:
		return l
	case <-time.After(30 * time.Second): // "hung", not "slow"
		rp.t.Fatalf("relying party saw no completed login")
		return rpLogin{}
	}
}

// verifyJWT checks token's signature against the provider's JWKS, its
// issuer, audience and expiry, and returns it with its claims.
func verifyJWT(t *testing.T, p *oidcprovider.Provider, token, audience string) (*gooidc.IDToken, map[string]any) {
	t.Helper()
	keys := gooidc.NewRemoteKeySet(context.Background(), p.JWKSURL())
	v := gooidc.NewVerifier(p.Issuer(), keys, &gooidc.Config{ClientID: audience, SupportedSigningAlgs: []string{p.SigningAlg()}})
	tok, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("verifying JWT against %s: %v", p.JWKSURL(), err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatalf("decoding JWT claims: %v", err)
	}
	return tok, claims
}

// joseTyp returns the JOSE header typ of a compact JWS.
func joseTyp(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parsing JWS: %v", err)
	}
	typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string)
	return typ
}

// rpProfiles are the provider profiles the relying party of these tests
// can verify: go-oidc v3.21 knows Ed25519 signatures only as EdDSA, not
// under RFC 9864's name, so the strict provider signs with ES256 here;
// the gateway's tests cover strict-ed25519.
var rpProfiles = []ssoProfile{profileLenient, profileStrictES256}

// rpStrictOnly is for the tests whose Chromium run would add nothing in
// the lenient profile: its login page is the same, and the strict
// profile's authorization responses (through the provider's own
// callback, with iss) and ES256 ID token hints have more to go wrong.
var rpStrictOnly = []ssoProfile{profileStrictES256}

func TestOIDCBrowserLoginPublicClientPKCE(t *testing.T) {
	t.Parallel()
	forProfiles(t, rpProfiles, func(t *testing.T, opts ...oidcprovider.Option) {
		p := startIdP(t, opts)
		strict := p.Profile() == oidcprovider.Strict
		rp := newRP(t, p, oidcprovider.Client{ID: "spa", Audience: []string{"api://orders"}})
		b := browser.New(t)

		b.Navigate(rp.srv.URL + "/start")
		login := b.WaitURL(p.Issuer() + oidcprovider.PathLogin)
		if !strings.HasPrefix(login, "http://127.0.0.2:") {
			t.Fatalf("login page at %s, want it on 127.0.0.2", login)
		}
		b.Login("alice", "wonderland")
		l := rp.awaitLogin(b)

		if l.idToken.Subject != alice.ID {
			t.Errorf("ID token sub = %q", l.idToken.Subject)
		}
		switch {
		case strict && (l.claims.Email != "" || l.claims.Name != "" || l.claims.Groups != nil || l.claims.AuthTime != 0):
			t.Errorf("strict ID token email/name/groups/auth_time = %q/%q/%v/%d, want none (UserInfo has them; auth_time was not asked for)",
				l.claims.Email, l.claims.Name, l.claims.Groups, l.claims.AuthTime)
		case !strict && (l.claims.Email != alice.Email || !l.claims.EmailVerified || l.claims.Name != alice.Name):
			t.Errorf("ID token email/name = %q/%v/%q", l.claims.Email, l.claims.EmailVerified, l.claims.Name)
		case !strict && !slices.Equal(l.claims.Groups, alice.Groups):
			t.Errorf("ID token groups = %v, want %v", l.claims.Groups, alice.Groups)
		case !strict && l.claims.AuthTime == 0:
			t.Error("ID token without auth_time")
		}
		if !slices.Contains(l.claims.AMR, "pwd") || l.claims.SID == "" {
			t.Errorf("ID token amr/sid = %v/%q", l.claims.AMR, l.claims.SID)
		}
		if err := l.idToken.VerifyAccessToken(l.token.AccessToken); err != nil {
			t.Errorf("at_hash does not match the access token: %v", err)
		}

		at, claims := verifyJWT(t, p, l.token.AccessToken, "spa")
		if typ := joseTyp(t, l.token.AccessToken); typ != "at+jwt" {
			t.Errorf("access token typ = %q, want at+jwt", typ)
		}
		if at.Subject != alice.ID || !slices.Equal(at.Audience, []string{"spa", "api://orders"}) {
			t.Errorf("access token sub/aud = %q/%v", at.Subject, at.Audience)
		}
		if d := time.Until(at.Expiry); d <= 0 || d > oidcprovider.DefaultAccessTokenLifetime+time.Minute {
			t.Errorf("access token expires in %v", d)
		}
		if claims["scope"] != "openid profile email" {
			t.Errorf("access token scope = %v", claims["scope"])
		}
		switch email, groups := claims["email"], claims["groups"]; {
		case strict && (email != nil || groups != nil):
			t.Errorf("strict access token email/groups = %v/%v, want none", email, groups)
		case !strict && (email != alice.Email || fmt.Sprint(groups) != "[admins readers]"):
			t.Errorf("access token email/groups = %v/%v", email, groups)
		}

		ui, err := rp.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(l.token))
		if err != nil || ui.Subject != alice.ID || ui.Email != alice.Email {
			t.Fatalf("userinfo = %+v, %v", ui, err)
		}
		var uiClaims struct {
			Name   string   `json:"name"`
			Groups []string `json:"groups"`
		}
		if err := ui.Claims(&uiClaims); err != nil || uiClaims.Name != alice.Name || !slices.Equal(uiClaims.Groups, alice.Groups) {
			t.Errorf("userinfo name/groups = %q/%v, %v", uiClaims.Name, uiClaims.Groups, err)
		}
		if c, ok := b.Cookie("127.0.0.2", oidcprovider.SessionCookie); !ok || !c.HTTPOnly {
			t.Errorf("provider session cookie = %+v, %v; want an HttpOnly cookie on 127.0.0.2", c, ok)
		}
	})
}

func TestOIDCBrowserWrongPasswordShowsError(t *testing.T) {
	t.Parallel()
	forProfiles(t, rpStrictOnly, func(t *testing.T, opts ...oidcprovider.Option) {
		p := startIdP(t, opts)
		rp := newRP(t, p, oidcprovider.Client{ID: "web", Secret: "s3cret"})
		b := browser.New(t)

		b.Navigate(rp.srv.URL + "/start")
		b.WaitVisible("#username")
		b.Login("alice", "not-her-password")
		if msg := b.Text("#error"); !strings.Contains(msg, "Invalid username or password") {
			t.Errorf("#error = %q", msg)
		}
		if u := b.CurrentURL(); !strings.HasPrefix(u, p.Issuer()) {
			t.Errorf("after a wrong password the browser is at %s, want the provider", u)
		}
		b.Login("alice", "wonderland") // the re-shown form still works
		if l := rp.awaitLogin(b); l.idToken.Subject != alice.ID {
			t.Errorf("subject = %q", l.idToken.Subject)
		}
	})
}

// TestOIDCRefreshTokenGrant: offline_access (with prompt=consent, which
// the strict provider needs for it) yields a refresh token that rotates.
func TestOIDCRefreshTokenGrant(t *testing.T) {
	t.Parallel()
	forProfiles(t, rpProfiles, func(t *testing.T, opts ...oidcprovider.Option) {
		p := startIdP(t, opts)
		rp := newRP(t, p, oidcprovider.Client{ID: "web", Secret: "s3cret"}, gooidc.ScopeOfflineAccess)
		b := browser.New(t)
		l := rp.login(b, "alice", "wonderland")
		if l.token.RefreshToken == "" {
			t.Fatal("no refresh token for offline_access")
		}

		expired := *l.token
		expired.Expiry = time.Now().Add(-time.Minute)
		fresh, err := rp.conf.TokenSource(context.Background(), &expired).Token()
		if err != nil {
			t.Fatalf("refresh_token grant: %v", err)
		}
		if fresh.AccessToken == l.token.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == l.token.RefreshToken {
			t.Errorf("refresh did not issue a new access token and a rotated refresh token")
		}
		at, claims := verifyJWT(t, p, fresh.AccessToken, "web")
		if at.Subject != alice.ID || !strings.Contains(fmt.Sprint(claims["scope"]), "offline_access") {
			t.Errorf("refreshed access token sub/scope = %q/%v", at.Subject, claims["scope"])
		}
		if raw, _ := fresh.Extra("id_token").(string); raw == "" {
			t.Error("refresh answered no ID token")
		} else if _, err := rp.verifier.Verify(context.Background(), raw); err != nil {
			t.Errorf("refreshed ID token: %v", err)
		}
		_, err = rp.conf.TokenSource(context.Background(), &expired).Token() // the old refresh token again
		if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("reusing a rotated refresh token: err = %v, want invalid_grant", err)
		}
	})
}

func TestOIDCBrowserLogoutRedirectsToPostLogoutURI(t *testing.T) {
	t.Parallel()
	forProfiles(t, rpStrictOnly, func(t *testing.T, opts ...oidcprovider.Option) {
		p := startIdP(t, opts)
		rp := newRP(t, p, oidcprovider.Client{ID: "web", Secret: "s3cret"})
		b := browser.New(t)
		l := rp.login(b, "alice", "wonderland")

		// A second login rides on the provider session: no form.
		b.Navigate(rp.srv.URL + "/start")
		rp.awaitLogin(b)
		if n := p.SessionCount(alice.ID); n != 1 {
			t.Fatalf("sessions before logout = %d, want 1", n)
		}

		logout := p.EndSessionURL() + "?" + url.Values{
			"id_token_hint":            {l.rawID},
			"post_logout_redirect_uri": {rp.srv.URL + "/bye"},
			"state":                    {"st-42"},
		}.Encode()
		b.Navigate(logout)
		b.WaitURL(rp.srv.URL + "/bye")
		if s := b.Text("#state"); s != "st-42" {
			t.Errorf("state after logout = %q, want st-42", s)
		}
		if n := p.SessionCount(alice.ID); n != 0 {
			t.Errorf("sessions after logout = %d, want 0", n)
		}
		if _, ok := b.Cookie("127.0.0.2", oidcprovider.SessionCookie); ok {
			t.Error("provider session cookie survived logout")
		}
		b.Navigate(rp.srv.URL + "/start") // signed out: the form is back
		b.WaitVisible("#username")

		evil := rp.srv.URL + "/not-registered"
		b.Navigate(p.EndSessionURL() + "?client_id=web&post_logout_redirect_uri=" + url.QueryEscape(evil))
		if u := b.CurrentURL(); strings.HasPrefix(u, evil) {
			t.Errorf("unregistered post_logout_redirect_uri was honoured: %s", u)
		}
	})
}

func TestOIDCClientCredentialsTokenVerifies(t *testing.T) {
	t.Parallel()
	forProfiles(t, rpProfiles, func(t *testing.T, opts ...oidcprovider.Option) {
		p := oidcprovider.Start(t, append(opts, oidcprovider.WithClients(oidcprovider.Client{
			ID: "batch", Secret: "m4chine", Audience: []string{"api://orders"},
			Claims: map[string]any{"roles": []string{"orders.write"}},
		}))...)
		ctx := context.Background()
		tok, err := p.ClientCredentialsToken(ctx, "batch", "m4chine", "orders.write")
		if err != nil {
			t.Fatal(err)
		}
		at, claims := verifyJWT(t, p, tok, "api://orders")
		if at.Subject != "batch" || claims["client_id"] != "batch" || claims["scope"] != "orders.write" {
			t.Errorf("sub/client_id/scope = %q/%v/%v", at.Subject, claims["client_id"], claims["scope"])
		}
		if fmt.Sprint(claims["roles"]) != "[orders.write]" || joseTyp(t, tok) != "at+jwt" {
			t.Errorf("roles = %v, typ = %q", claims["roles"], joseTyp(t, tok))
		}
		if _, err := p.ClientCredentialsToken(ctx, "batch", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("wrong secret: err = %v, want a 401", err)
		}
	})
}

func TestProviderSetDownAnswers503(t *testing.T) {
	t.Parallel()
	forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
		p := oidcprovider.Start(t, opts...)
		for i, want := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusOK} {
			p.SetDown(i == 1)
			resp, err := http.Get(p.DiscoveryURL())
			if err != nil {
				t.Fatalf("GET discovery: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("discovery (down=%v) answered %d, want %d", i == 1, resp.StatusCode, want)
			}
		}
		if n := p.Hits(oidcprovider.PathDiscovery); n != 3 {
			t.Errorf("Hits(discovery) = %d, want 3", n)
		}
	})
}
