package oidcprovider_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

var web = oidcprovider.Client{ID: "web", Secret: "s3cret", RedirectURIs: []string{redirectURI}}

// verify checks a JWT against the provider's JWKS, as a gateway would.
func verify(p *oidcprovider.Provider, token, audience string) (*gooidc.IDToken, error) {
	keys := gooidc.NewRemoteKeySet(context.Background(), p.JWKSURL())
	return gooidc.NewVerifier(p.Issuer(), keys, &gooidc.Config{ClientID: audience}).Verify(context.Background(), token)
}

// jwksKids returns the key IDs published at the JWKS endpoint.
func jwksKids(t *testing.T, p *oidcprovider.Provider) []string {
	t.Helper()
	resp, err := http.Get(p.JWKSURL())
	if err != nil {
		t.Fatalf("GET JWKS: %v", err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decoding JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestProviderKeyRotation(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithClients(web))
	ctx := context.Background()
	first := p.KeyID()
	old, err := p.ClientCredentialsToken(ctx, "web", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.RotateKey(true)
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, p); !slices.Equal(kids, []string{first, second}) || p.KeyID() != second {
		t.Fatalf("after graceful rotation JWKS = %v, current %s; want [%s %s]", kids, p.KeyID(), first, second)
	}
	if _, err := verify(p, old, "web"); err != nil {
		t.Errorf("token signed before a graceful rotation: %v", err)
	}
	third, err := p.RotateKey(false)
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, p); !slices.Equal(kids, []string{third}) {
		t.Fatalf("after hard rotation JWKS = %v, want [%s]", kids, third)
	}
	if _, err := verify(p, old, "web"); err == nil {
		t.Error("token signed with a withdrawn key still verifies")
	}
	fresh, err := p.ClientCredentialsToken(ctx, "web", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(p, fresh, "web"); err != nil {
		t.Errorf("token signed with the new key: %v", err)
	}
	if n := p.Hits(p.JWKSURL()); n < 3 {
		t.Errorf("Hits(JWKS) = %d, want at least 3", n)
	}
}

func TestProviderSignJWT(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t)
	tok, err := p.SignJWT(map[string]any{
		"iss": p.Issuer(), "sub": "crafted", "aud": "api", "exp": time.Now().Add(time.Minute).Unix(),
	}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := verify(p, tok, "api"); err != nil || id.Subject != "crafted" {
		t.Fatalf("crafted token: %v, %v", id, err)
	}
}

func TestProviderPublicClientRequiresPKCE(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithUsers(bob), oidcprovider.WithClients(
		oidcprovider.Client{ID: "spa", RedirectURIs: []string{redirectURI}}))
	q := redirectParams(t, newAgent(t, p).authorize("spa", nil))
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") {
		t.Errorf("auth request without PKCE: %v", q)
	}
	if tr := codeFlow(t, p, newAgent(t, p), "spa", "", "openid"); tr.IDToken == "" || tr.AccessToken == "" {
		t.Errorf("PKCE code flow for a public client: %+v", tr)
	}
}

func TestProviderSingleSignOnAndPromptNone(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
	a := newAgent(t, p)
	q := redirectParams(t, a.authorize("web", url.Values{"prompt": {"none"}}))
	if q.Get("error") != "login_required" {
		t.Errorf("prompt=none without a session: %v", q)
	}
	codeFlow(t, p, a, "web", "s3cret", "openid")
	if q := redirectParams(t, a.authorize("web", url.Values{"prompt": {"none"}})); q.Get("code") == "" {
		t.Errorf("prompt=none with a session: %v", q)
	}
	if resp := a.authorize("web", url.Values{"prompt": {"login"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("prompt=login with a session: status %d, want the login form", resp.StatusCode)
	}
}

func TestProviderIntrospectionAndRevocation(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithClients(web))
	ctx := context.Background()
	tok, err := p.ClientCredentialsToken(ctx, "web", "s3cret", "jobs")
	if err != nil {
		t.Fatal(err)
	}
	introspect := func() map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.IntrospectionURL(), strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("introspecting: %v", err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("decoding introspection: %v", err)
		}
		return out
	}
	if got := introspect(); got["active"] != true || got["sub"] != "web" || got["scope"] != "jobs" {
		t.Errorf("introspection of a live token = %v", got)
	}
	req, _ := http.NewRequest(http.MethodPost, p.RevocationURL(), strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revocation status = %d", resp.StatusCode)
	}
	if got := introspect(); got["active"] != false {
		t.Errorf("introspection of a revoked token = %v", got)
	}
}

func TestProviderBackChannelLogout(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(body))
		got <- v.Get("logout_token")
	}))
	t.Cleanup(rp.Close)
	c := web
	c.BackChannelLogoutURI = rp.URL
	p := oidcprovider.Start(t, oidcprovider.WithUsers(bob), oidcprovider.WithClients(c))
	a := newAgent(t, p)
	tr := codeFlow(t, p, a, "web", "s3cret", "openid")
	idt, err := verify(p, tr.IDToken, "web")
	if err != nil {
		t.Fatal(err)
	}
	var sid struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&sid)

	if resp := a.get(p.EndSessionURL() + "?client_id=web"); !strings.HasSuffix(resp.Request.URL.Path, oidcprovider.PathLoggedOut) {
		t.Errorf("logout without post_logout_redirect_uri ended at %s", resp.Request.URL)
	}
	var raw string
	select {
	case raw = <-got:
	case <-time.After(30 * time.Second): // "hung", not "slow"
		t.Fatal("no back-channel logout token arrived")
	}
	keys := gooidc.NewRemoteKeySet(context.Background(), p.JWKSURL())
	lt, err := gooidc.NewVerifier(p.Issuer(), keys, &gooidc.Config{ClientID: "web"}).VerifyLogout(context.Background(), raw)
	if err != nil {
		t.Fatalf("verifying logout token: %v", err)
	}
	if lt.Subject != bob.ID || lt.SessionID == "" || lt.SessionID != sid.SID {
		t.Errorf("logout token sub/sid = %q/%q, ID token sid %q", lt.Subject, lt.SessionID, sid.SID)
	}
	if l := p.BackChannelLogouts(); len(l) != 1 || l[0].Status != http.StatusOK || l[0].Err != nil {
		t.Errorf("BackChannelLogouts = %+v", l)
	}
}

func TestProviderAccessTokenJWTTypeOptOut(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithClients(web), oidcprovider.WithAccessTokenJWTType("JWT"),
		oidcprovider.WithAccessTokenLifetime(30*time.Second))
	requested := time.Now()
	tok, err := p.ClientCredentialsToken(context.Background(), "web", "s3cret")
	issued := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType]; typ != "JWT" {
		t.Errorf("typ = %v, want JWT", typ)
	}
	id, err := verify(p, tok, "web")
	if err != nil {
		t.Fatal(err)
	}
	// Issued between requested and issued; exp has whole seconds. Judged
	// by those times, not by now, so a slow machine cannot fail this.
	if id.Expiry.Before(requested.Add(29*time.Second)) || id.Expiry.After(issued.Add(30*time.Second)) {
		t.Errorf("access token expires %v after it was requested, want 30s", id.Expiry.Sub(requested))
	}
}
