package oidcprovider_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// carol has a second factor: her one-time password.
var carol = oidcprovider.User{ID: "u-carol", Username: "carol", Password: "pa55", OTP: "424242", Groups: []string{"admins"}}

// TestSecondFactor: a login with the password alone has amr [pwd] and no
// acr; a request with acr_values asking for a second factor is not
// signed in silently from that session, refuses a login without the
// right OTP, and after one yields amr [pwd otp] and the multi-factor
// acr; the next such request reuses the multi-factor session. In both
// profiles.
func TestSecondFactor(t *testing.T) {
	t.Parallel()
	for _, profile := range []oidcprovider.Profile{oidcprovider.Lenient, oidcprovider.Strict} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			p := oidcprovider.Start(t, oidcprovider.WithProfile(profile), oidcprovider.WithUsers(carol), oidcprovider.WithClients(web))
			a := newAgent(t, p)
			mfa := url.Values{"acr_values": {oidcprovider.ACRMultiFactor}}
			idClaims := func(resp *http.Response, verifier string) map[string]any {
				t.Helper()
				q := redirectParams(t, resp)
				tr, err := p.PostToken(context.Background(), "web", "s3cret", url.Values{
					"grant_type": {"authorization_code"}, "code": {q.Get("code")},
					"redirect_uri": {redirectURI}, "code_verifier": {verifier},
				})
				if err != nil {
					t.Fatalf("exchanging code: %v", err)
				}
				_, claims := mustVerify(t, p, tr.IDToken)
				return claims
			}
			start := func(extra url.Values) (*http.Response, string) {
				t.Helper()
				verifier := oauth2.GenerateVerifier()
				q := url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
				for k, v := range extra {
					q[k] = v
				}
				return a.authorize("web", q), verifier
			}

			page, verifier := start(nil)
			claims := idClaims(submitOTP(t, a, page, carol, ""), verifier)
			if amr := claimStrings(claims["amr"]); !slices.Equal(amr, []string{"pwd"}) || claims["acr"] != nil {
				t.Fatalf("password login: amr %v acr %v", claims["amr"], claims["acr"])
			}

			page, verifier = start(mfa)
			if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Request.URL.String(), p.LoginURL()) {
				t.Fatalf("acr_values with a password-only session: %d at %s, want the login page", page.StatusCode, page.Request.URL)
			}
			for _, otp := range []string{"", "000000"} {
				if resp := submitOTP(t, a, page, carol, otp); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("login with otp %q when a second factor is asked for: %d", otp, resp.StatusCode)
				}
			}
			claims = idClaims(submitOTP(t, a, page, carol, carol.OTP), verifier)
			if amr := claimStrings(claims["amr"]); !slices.Equal(amr, []string{"pwd", "otp"}) || claims["acr"] != oidcprovider.ACRMultiFactor {
				t.Fatalf("login with a second factor: amr %v acr %v", claims["amr"], claims["acr"])
			}

			resp, verifier := start(mfa)
			if claims := idClaims(resp, verifier); claims["acr"] != oidcprovider.ACRMultiFactor {
				t.Fatalf("silent login from the multi-factor session: acr %v", claims["acr"])
			}
			if seen := p.AuthRequests(); !slices.Equal(seen[len(seen)-1].ACRValues, []string{oidcprovider.ACRMultiFactor}) {
				t.Fatalf("recorded acr_values: %v", seen[len(seen)-1].ACRValues)
			}
		})
	}
}

// TestSecondFactorWithoutOne: a user without an OTP can log in with the
// password, never with a second factor.
func TestSecondFactorWithoutOne(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
	a := newAgent(t, p)
	verifier := oauth2.GenerateVerifier()
	page := a.authorize("web", url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		"acr_values": {oidcprovider.ACRMultiFactor}})
	if resp := submitOTP(t, a, page, bob, "anything"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a user without a second factor proved one: %d", resp.StatusCode)
	}
}

// submitOTP posts the login form with u's password and otp (none when
// empty) and returns the answer (the redirect leaving the provider, or
// the login page again).
func submitOTP(t *testing.T, a *agent, loginPage *http.Response, u oidcprovider.User, otp string) *http.Response {
	t.Helper()
	id := loginPage.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("not on the login page: %s (status %d)", loginPage.Request.URL, loginPage.StatusCode)
	}
	form := url.Values{"authRequestID": {id}, "username": {u.Username}, "password": {u.Password}}
	if otp != "" {
		form.Set("otp", otp)
	}
	resp, err := a.c.PostForm(a.p.LoginURL(), form)
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	resp.Body.Close()
	return resp
}

// claimStrings reads a JSON array of strings.
func claimStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
