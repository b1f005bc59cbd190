package oidcprovider_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The package tests drive the login page with a plain HTTP client and a
// cookie jar (no browser), which is enough to exercise the protocol.

const redirectURI = "http://127.0.0.1:1/cb" // never contacted: redirects stop at the provider's edge

var bob = oidcprovider.User{
	ID: "u-bob", Username: "bob", Password: "builder",
	Email: "bob@example.test", EmailVerified: true, Groups: []string{"staff"},
}

// agent is a cookie-keeping HTTP client that follows redirects only while
// they stay on the provider.
type agent struct {
	t *testing.T
	p *oidcprovider.Provider
	c *http.Client
}

func newAgent(t *testing.T, p *oidcprovider.Provider) *agent {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	issuer, _ := url.Parse(p.Issuer())
	return &agent{t: t, p: p, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != issuer.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// get fetches u and returns the last response (body closed).
func (a *agent) get(u string) *http.Response {
	a.t.Helper()
	resp, err := a.c.Get(u)
	if err != nil {
		a.t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp
}

// authorize starts a code flow; the answer is either the login page (200)
// or a redirect leaving the provider (302).
func (a *agent) authorize(clientID string, extra url.Values) *http.Response {
	a.t.Helper()
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"n-1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return a.get(a.p.AuthorizationURL() + "?" + q.Encode())
}

// submit posts the login form for the login page the agent is on and
// returns the redirect that leaves the provider.
func (a *agent) submit(loginPage *http.Response, username, password string) *http.Response {
	a.t.Helper()
	id := loginPage.Request.URL.Query().Get("authRequestID")
	if id == "" {
		a.t.Fatalf("not on the login page: %s (status %d)", loginPage.Request.URL, loginPage.StatusCode)
	}
	form := url.Values{"authRequestID": {id}, "username": {username}, "password": {password}}
	resp, err := a.c.PostForm(a.p.LoginURL(), form)
	if err != nil {
		a.t.Fatalf("POST login: %v", err)
	}
	resp.Body.Close()
	return resp
}

// redirectParams returns the query of a redirect to the relying party.
func redirectParams(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("want a redirect to %s, got %d Location %q", redirectURI, resp.StatusCode, loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("parsing Location: %v", err)
	}
	return u.Query()
}

// codeFlow logs bob in for clientID (PKCE S256) and exchanges the code.
func codeFlow(t *testing.T, p *oidcprovider.Provider, a *agent, clientID, secret, scope string) *oidcprovider.TokenResponse {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	extra := url.Values{
		"scope":                 {scope},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
	resp := a.authorize(clientID, extra)
	if resp.StatusCode == http.StatusOK {
		resp = a.submit(resp, bob.Username, bob.Password)
	}
	q := redirectParams(t, resp)
	if q.Get("code") == "" || q.Get("state") != "st" {
		t.Fatalf("redirect without code/state: %v", q)
	}
	tr, err := p.PostToken(context.Background(), clientID, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatalf("exchanging code: %v", err)
	}
	return tr
}
