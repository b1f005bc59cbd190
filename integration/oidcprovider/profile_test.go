package oidcprovider_test

import (
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// userClaimNames are the claims bob has beyond sub.
var userClaimNames = []string{"email", "email_verified", "preferred_username", "groups"}

func TestProfileDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    []oidcprovider.Option
		profile oidcprovider.Profile
		alg     string
	}{
		{name: "lenient", profile: oidcprovider.Lenient, alg: oidcprovider.AlgRS256},
		{name: "strict", opts: []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict)}, profile: oidcprovider.Strict, alg: oidcprovider.AlgEd25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := oidcprovider.Start(t, tc.opts...)
			if p.Profile() != tc.profile || p.Profile().String() != tc.name || p.SigningAlg() != tc.alg {
				t.Errorf("Profile() = %v, SigningAlg() = %s; want %s, %s", p.Profile(), p.SigningAlg(), tc.name, tc.alg)
			}
			doc := getJSON(t, p.DiscoveryURL(), "")
			strict := tc.profile == oidcprovider.Strict
			for _, key := range []string{"authorization_response_iss_parameter_supported", "claims_parameter_supported"} {
				if got := doc[key] == true; got != strict {
					t.Errorf("discovery %s = %v, want it advertised: %v", key, doc[key], strict)
				}
			}
			if algs, _ := doc["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != tc.alg {
				t.Errorf("id_token_signing_alg_values_supported = %v, want [%s]", doc["id_token_signing_alg_values_supported"], tc.alg)
			}
			if doc["revocation_endpoint"] != p.RevocationURL() || doc["backchannel_logout_supported"] != true {
				t.Errorf("discovery revocation_endpoint %v, backchannel_logout_supported %v", doc["revocation_endpoint"], doc["backchannel_logout_supported"])
			}
		})
	}
}

func TestProfileClaimsOnlyAtUserinfo(t *testing.T) {
	t.Parallel()
	for _, profile := range []oidcprovider.Profile{oidcprovider.Lenient, oidcprovider.Strict} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			strict := profile == oidcprovider.Strict
			p := oidcprovider.Start(t, oidcprovider.WithProfile(profile), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
			tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", url.Values{
				"scope": {"openid email profile groups offline_access"}, "prompt": {"consent"},
			})
			checkIDToken := func(what, idToken string, groups []string) {
				t.Helper()
				_, claims := mustVerify(t, p, idToken)
				if claims["sub"] != bob.ID || claims["nonce"] == nil && what == "code" || claims["at_hash"] == nil || claims["sid"] == nil || claims["azp"] != "web" {
					t.Errorf("%s ID token lacks protocol claims: %v", what, claims)
				}
				for _, name := range userClaimNames {
					if _, has := claims[name]; has == strict {
						t.Errorf("%s ID token has %s: %v, want %v", what, name, has, !strict)
					}
				}
				if _, has := claims["client_id"]; has == strict {
					t.Errorf("%s ID token has client_id: %v", what, has)
				}
				if !strict && !equalAny(claims["groups"], groups) {
					t.Errorf("%s ID token groups = %v, want %v", what, claims["groups"], groups)
				}
				if strict {
					want := []string{"amr", "at_hash", "aud", "azp", "exp", "iat", "iss", "sid", "sub"}
					if what == "code" {
						want = append(want, "nonce")
					}
					if got := slices.Sorted(maps.Keys(claims)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
						t.Errorf("strict %s ID token claims = %v, want %v", what, got, slices.Sorted(slices.Values(want)))
					}
				}
			}
			checkIDToken("code", tr.IDToken, bob.Groups)
			_, at := mustVerify(t, p, tr.AccessToken)
			if _, has := at["email"]; has == strict {
				t.Errorf("access token has email: %v, want %v", has, !strict)
			}
			ui := getJSON(t, p.UserinfoURL(), tr.AccessToken)
			if ui["sub"] != bob.ID || ui["email"] != bob.Email || ui["email_verified"] != true ||
				ui["preferred_username"] != bob.Username || !equalAny(ui["groups"], bob.Groups) {
				t.Errorf("userinfo = %v", ui)
			}

			p.SetGroups(bob.ID, "staff", "admins")
			if ui := getJSON(t, p.UserinfoURL(), tr.AccessToken); !equalAny(ui["groups"], []string{"staff", "admins"}) {
				t.Errorf("userinfo after SetGroups: groups = %v", ui["groups"])
			}
			if tr.RefreshToken == "" {
				t.Fatal("no refresh token with offline_access and prompt=consent")
			}
			next, err := refresh(p, "web", "s3cret", tr.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			checkIDToken("refresh", next.IDToken, []string{"staff", "admins"})
			if ui := getJSON(t, p.UserinfoURL(), next.AccessToken); ui["sub"] != bob.ID || !equalAny(ui["groups"], []string{"staff", "admins"}) {
				t.Errorf("userinfo with the refreshed access token = %v", ui)
			}
		})
	}
}

func TestProfileRefreshTokenNeedsConsent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		profile     oidcprovider.Profile
		prompt      string
		wantRefresh bool
	}{
		{name: "lenient without prompt", profile: oidcprovider.Lenient, wantRefresh: true},
		{name: "strict without prompt", profile: oidcprovider.Strict},
		{name: "strict prompt=login", profile: oidcprovider.Strict, prompt: "login"},
		{name: "strict prompt=consent", profile: oidcprovider.Strict, prompt: "consent", wantRefresh: true},
		{name: "strict prompt=login consent", profile: oidcprovider.Strict, prompt: "login consent", wantRefresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := oidcprovider.Start(t, oidcprovider.WithProfile(tc.profile), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
			extra := url.Values{"scope": {"openid offline_access"}}
			if tc.prompt != "" {
				extra.Set("prompt", tc.prompt)
			}
			tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", extra)
			if got := tr.RefreshToken != ""; got != tc.wantRefresh {
				t.Errorf("refresh token issued: %v, want %v (scope %q)", got, tc.wantRefresh, tr.Scope)
			}
			seen := p.AuthRequests()
			if len(seen) != 1 {
				t.Fatalf("AuthRequests() = %+v, want one", seen)
			}
			s := seen[0]
			if s.ID == "" || s.ClientID != "web" || !slices.Equal(s.Scopes, []string{"openid", "offline_access"}) ||
				slices.Contains(s.GrantedScopes, "offline_access") != tc.wantRefresh {
				t.Errorf("AuthRequestSeen = %+v", s)
			}
			if want := strings.Fields(tc.prompt); !slices.Equal(s.Prompt, want) {
				t.Errorf("AuthRequestSeen.Prompt = %q, want %q", s.Prompt, want)
			}
		})
	}
}

func TestProfileAuthorizationResponseIss(t *testing.T) {
	t.Parallel()
	spa := oidcprovider.Client{ID: "spa", RedirectURIs: []string{redirectURI}}
	for _, profile := range []oidcprovider.Profile{oidcprovider.Lenient, oidcprovider.Strict} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			p := oidcprovider.Start(t, oidcprovider.WithProfile(profile), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web, spa))
			wantIss := ""
			if profile == oidcprovider.Strict {
				wantIss = p.Issuer()
			}
			a := newAgent(t, p)
			check := func(what string, q url.Values, wantError string) {
				t.Helper()
				if q.Get("error") != wantError || q.Get("state") != "st" || q.Get("iss") != wantIss || q.Has("iss") != (wantIss != "") {
					t.Errorf("%s: authorization response %v, want error %q and iss %q", what, q, wantError, wantIss)
				}
			}
			check("prompt=none without a session (login page)", redirectParams(t, a.authorize("web", url.Values{"prompt": {"none"}})), "login_required")
			check("public client without PKCE (op validation)", redirectParams(t, a.authorize("spa", nil)), "invalid_request")
			check("unsupported response_type", redirectParams(t, a.authorize("web", url.Values{"response_type": {"token"}})), "unauthorized_client")
			_, q := login(t, p, a, "web", "s3cret", url.Values{"scope": {"openid"}})
			check("code after the login form", q, "")
			check("code from the provider session", redirectParams(t, a.authorize("web", url.Values{"prompt": {"none"}})), "")
			q = url.Values{
				"client_id": {"web"}, "redirect_uri": {redirectURI}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"st"}, "response_mode": {"form_post"},
			}
			resp, err := a.c.Get(p.AuthorizationURL() + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			issField := `name="iss" value="` + p.Issuer() + `"`
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="code"`) ||
				strings.Contains(string(page), issField) != (wantIss != "") {
				t.Errorf("form_post response (status %d) has iss: %v, want %v:\n%s",
					resp.StatusCode, strings.Contains(string(page), issField), wantIss != "", page)
			}
		})
	}
}

// equalAny compares a decoded JSON array of strings with want.
func equalAny(got any, want []string) bool {
	arr, ok := got.([]any)
	if !ok || len(arr) != len(want) {
		return false
	}
	for i, v := range arr {
		if v != want[i] {
			return false
		}
	}
	return true
}
