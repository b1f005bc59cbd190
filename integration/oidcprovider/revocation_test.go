package oidcprovider_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

func TestRevocationLog(t *testing.T) {
	t.Parallel()
	for _, profile := range []oidcprovider.Profile{oidcprovider.Lenient, oidcprovider.Strict} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			other := oidcprovider.Client{ID: "other", Secret: "0ther", RedirectURIs: []string{redirectURI}}
			p := oidcprovider.Start(t, oidcprovider.WithProfile(profile), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web, other))
			if doc := getJSON(t, p.DiscoveryURL(), ""); doc["revocation_endpoint"] != p.RevocationURL() {
				t.Errorf("discovery revocation_endpoint = %v, want %s", doc["revocation_endpoint"], p.RevocationURL())
			}
			tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", url.Values{"scope": {"openid offline_access"}, "prompt": {"consent"}})
			if tr.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			machine, err := p.ClientCredentialsToken(t.Context(), "web", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			revoke := func(clientID, secret, token, hint string) {
				t.Helper()
				form := url.Values{"token": {token}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				postForm(t, p.RevocationURL(), clientID, secret, form)
			}
			revoke("other", "0ther", tr.RefreshToken, "refresh_token") // not its token: refused
			revoke("web", "wrong", tr.RefreshToken, "")                // bad credentials: refused
			revoke("web", "s3cret", tr.AccessToken, "access_token")
			revoke("web", "s3cret", tr.RefreshToken, "refresh_token")
			revoke("web", "s3cret", tr.RefreshToken, "")      // already revoked
			revoke("web", "s3cret", tr.AccessToken, "")       // already revoked, still a valid JWT
			revoke("web", "s3cret", "not-a-token", "")        // garbage
			revoke("web", "s3cret", machine, "refresh_token") // wrong hint

			ok, rt, at := http.StatusOK, oidcprovider.TokenKindRefresh, oidcprovider.TokenKindAccess
			unknown := oidcprovider.TokenKindUnknown
			want := []oidcprovider.Revocation{
				{TokenTypeHint: "refresh_token", Kind: rt, Subject: bob.ID, ClientID: "other", Active: true, TokenHash: oidcprovider.TokenFingerprint(tr.RefreshToken), Status: http.StatusUnauthorized},
				{Kind: unknown, TokenHash: oidcprovider.TokenFingerprint(tr.RefreshToken), Status: http.StatusUnauthorized},
				{TokenTypeHint: "access_token", Kind: at, Subject: bob.ID, ClientID: "web", Active: true, TokenHash: oidcprovider.TokenFingerprint(tr.AccessToken), Status: ok},
				{TokenTypeHint: "refresh_token", Kind: rt, Subject: bob.ID, ClientID: "web", Active: true, TokenHash: oidcprovider.TokenFingerprint(tr.RefreshToken), Status: ok},
				{Kind: unknown, ClientID: "web", TokenHash: oidcprovider.TokenFingerprint(tr.RefreshToken), Status: ok},
				{Kind: at, Subject: bob.ID, ClientID: "web", TokenHash: oidcprovider.TokenFingerprint(tr.AccessToken), Status: ok},
				{Kind: unknown, ClientID: "web", TokenHash: oidcprovider.TokenFingerprint("not-a-token"), Status: ok},
				{TokenTypeHint: "refresh_token", Kind: at, Subject: "web", ClientID: "web", Active: true, TokenHash: oidcprovider.TokenFingerprint(machine), Status: ok},
			}
			got := p.Revocations()
			if len(got) != len(want) {
				t.Fatalf("Revocations() = %+v, want %d records", got, len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("revocation %d = %+v, want %+v", i, got[i], want[i])
				}
				if s := fmt.Sprintf("%+v", got[i]); strings.Contains(s, tr.RefreshToken) || strings.Contains(s, tr.AccessToken) {
					t.Errorf("revocation %d holds the token: %s", i, s)
				}
			}

			_, err = refresh(p, "web", "s3cret", tr.RefreshToken)
			if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Errorf("refresh with a revoked refresh token: %v, want invalid_grant", err)
			}
			status, body := postForm(t, p.IntrospectionURL(), "web", "s3cret", url.Values{"token": {tr.AccessToken}})
			if status != http.StatusOK || !strings.Contains(body, `"active":false`) {
				t.Errorf("introspection of a revoked access token: %d %s", status, body)
			}
		})
	}
}

func TestRevokingRefreshTokenRevokesItsAccessTokens(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
	tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", url.Values{"scope": {"openid offline_access"}})
	postForm(t, p.RevocationURL(), "web", "s3cret", url.Values{"token": {tr.RefreshToken}})
	if status, body := postForm(t, p.IntrospectionURL(), "web", "s3cret", url.Values{"token": {tr.AccessToken}}); !strings.Contains(body, `"active":false`) {
		t.Errorf("introspection of an access token of a revoked refresh token: %d %s", status, body)
	}
	if _, err := refresh(p, "web", "s3cret", tr.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("refresh with a revoked refresh token: %v, want invalid_grant", err)
	}
}

func TestWithoutRevocation(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithoutRevocation(), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
	doc := getJSON(t, p.DiscoveryURL(), "")
	for _, key := range []string{"revocation_endpoint", "revocation_endpoint_auth_methods_supported"} {
		if _, has := doc[key]; has {
			t.Errorf("discovery has %s without revocation", key)
		}
	}
	if doc["token_endpoint"] != p.TokenURL() {
		t.Errorf("discovery token_endpoint = %v", doc["token_endpoint"])
	}
	tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", url.Values{"scope": {"openid offline_access"}})
	if status, _ := postForm(t, p.RevocationURL(), "web", "s3cret", url.Values{"token": {tr.RefreshToken}}); status != http.StatusNotFound {
		t.Errorf("revocation endpoint answered %d, want 404", status)
	}
	if got := p.Revocations(); len(got) != 0 {
		t.Errorf("Revocations() = %+v", got)
	}
	if _, err := refresh(p, "web", "s3cret", tr.RefreshToken); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

func TestWithoutBackChannelLogout(t *testing.T) {
	t.Parallel()
	c := web
	c.BackChannelLogoutURI = "http://127.0.0.1:1/backchannel" // never contacted
	p := oidcprovider.Start(t, oidcprovider.WithoutBackChannelLogout(), oidcprovider.WithUsers(bob), oidcprovider.WithClients(c))
	doc := getJSON(t, p.DiscoveryURL(), "")
	if _, has := doc["backchannel_logout_supported"]; has {
		t.Errorf("discovery backchannel_logout_supported = %v", doc["backchannel_logout_supported"])
	}
	a := newAgent(t, p)
	login(t, p, a, "web", "s3cret", url.Values{"scope": {"openid"}})
	a.get(p.EndSessionURL() + "?client_id=web")
	if p.SessionCount(bob.ID) != 0 {
		t.Error("end_session kept the session")
	}
	if l := p.BackChannelLogouts(); len(l) != 0 {
		t.Errorf("BackChannelLogouts() = %+v", l)
	}
}
