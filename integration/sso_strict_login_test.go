package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The sso_strict_*_test.go files run the gateway against the strict
// provider (OpenID Connect to the letter) for what only it shows: user
// claims that only UserInfo serves, a refresh token only with
// prompt=consent, RFC 9207 iss, auth_time only when asked, revocation at
// logout, and configuration mistakes the gateway names. Chromium does
// what a person does (log in, open pages, sign out); the agent what needs
// a redirect stopped or many logins.

// strictSite serves upstream to any session, /admin/* to the admins
// group, and /recent/* to a login of the last hour.
func strictSite(upstream string) func(p harness.Ports) string {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`http://127.0.0.1:%d {
	portcullis /admin/* {
		require_claim groups admins
	}
	portcullis /recent/* {
		max_age 1h
	}
	portcullis {
		allow_anonymous /bye
	}
	reverse_proxy %s
}
`, p.HTTP, upstream)
	}
}

// browserEcho returns the request headers the upstream echoed on the
// browser's page.
func browserEcho(t *testing.T, b *browser.Browser) http.Header {
	t.Helper()
	var h http.Header
	if err := json.Unmarshal([]byte(b.BodyText()), &h); err != nil {
		t.Fatalf("the page at %s is not the upstream's echo: %v\n%s", b.CurrentURL(), err, b.BodyText())
	}
	return h
}

// checkUpstreamIdentity checks the identity headers the upstream received.
func checkUpstreamIdentity(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := h.Values(name); v == "" && len(got) > 0 || v != "" && !slices.Equal(got, []string{v}) {
			t.Errorf("upstream %s: %q, want %q", name, got, v)
		}
	}
}

// TestSSOStrictBrowserLogin: against the strict provider, the upstream
// sees the email, name and groups that only its UserInfo endpoint serves;
// the authorization request asked for a refresh token the way OpenID
// Connect says (offline_access with prompt=consent) and for auth_time
// (the claims parameter), so a max_age route opens without a second
// login.
func TestSSOStrictBrowserLogin(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, profileStrict.opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoSite(idp.Issuer(), "store memory", "", strictSite(up.Addr)), ssoEnv...)
	registerGateway(idp, gw)

	b := browser.New(t)
	target := gw.URL + "/app/page"
	b.Navigate(target)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(alice.Username, alice.Password)
	b.WaitURLFunc("the original page", func(u string) bool { return u == target })
	checkUpstreamIdentity(t, browserEcho(t, b), map[string]string{
		"X-Auth-Subject": alice.ID, "X-Auth-Method": "session", "X-Auth-Issuer": idp.Issuer(),
		"X-Auth-Email": alice.Email, "X-Auth-Name": alice.Name, "X-Auth-Groups": "admins,readers",
	})
	if n := idp.Hits(oidcprovider.PathUserinfo); n != 1 {
		t.Errorf("UserInfo calls after the login: %d, want 1", n)
	}

	reqs := idp.AuthRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d authorization requests, want 1: %+v", len(reqs), reqs)
	}
	ar := reqs[0]
	if !slices.Contains(ar.Prompt, "consent") || !slices.Contains(ar.Scopes, "offline_access") || !slices.Contains(ar.GrantedScopes, "offline_access") {
		t.Errorf("authorization request prompt %q, scopes %q, granted %q: want prompt=consent and offline_access granted", ar.Prompt, ar.Scopes, ar.GrantedScopes)
	}
	var claims struct {
		IDToken map[string]struct {
			Essential bool `json:"essential"`
		} `json:"id_token"`
	}
	if err := json.Unmarshal(ar.Claims, &claims); err != nil || !claims.IDToken["auth_time"].Essential {
		t.Errorf("claims parameter %s (%v): want auth_time asked for in id_token, essential", ar.Claims, err)
	}

	// A route with max_age opens with the session as it is: the ID token
	// had auth_time because the claims parameter asked for it.
	recent := gw.URL + "/recent/report"
	b.Navigate(recent)
	if u := b.WaitURLFunc("the max_age page or the provider", func(u string) bool {
		return u == recent || strings.HasPrefix(u, idp.Issuer())
	}); u != recent {
		t.Fatalf("the max_age route sent the browser to %s: the session has no auth_time", u)
	}
	checkUpstreamIdentity(t, browserEcho(t, b), map[string]string{"X-Auth-Subject": alice.ID})
	if n := len(idp.AuthRequests()); n != 1 {
		t.Errorf("%d authorization requests after the max_age route, want 1 (no second login)", n)
	}
}

// TestSSOStrictUserInfoOff: with `userinfo off` the gateway never calls
// UserInfo, so against the strict provider the session has only what the
// ID token carries (the documented trade-off): no email, unless the
// claims parameter asks for it in the ID token.
func TestSSOStrictUserInfoOff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, oidcExtra string
		want            map[string]string
	}{
		{"id_token_alone", "userinfo off", map[string]string{
			"X-Auth-Subject": alice.ID, "X-Auth-Email": "", "X-Auth-Name": "", "X-Auth-Groups": "",
		}},
		{"claims_in_id_token", "userinfo off\n\t\t\tclaims `{\"id_token\":{\"email\":null,\"groups\":null}}`", map[string]string{
			"X-Auth-Subject": alice.ID, "X-Auth-Email": alice.Email, "X-Auth-Name": "", "X-Auth-Groups": "admins,readers",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			idp := startIdP(t, profileStrict.opts)
			up := harness.StartUpstream(t)
			gw := harness.StartGateway(t, ssoSiteWith(idp.Issuer(), "store memory", "", c.oidcExtra, strictSite(up.Addr)), ssoEnv...)
			registerGateway(idp, gw)
			cookie := newAgent(t).loginAt(gw, "/")
			if got := withSession(t, gw, "/orders", cookie); got != 200 {
				t.Fatalf("the session: %d", got)
			}
			received := up.Received()
			checkUpstreamIdentity(t, received[len(received)-1], c.want)
			if n := idp.Hits(oidcprovider.PathUserinfo); n != 0 {
				t.Errorf("UserInfo calls with userinfo off: %d, want 0", n)
			}
			// The session still knows when the user logged in.
			if got := withSession(t, gw, "/recent/report", cookie); got != 200 {
				t.Errorf("the max_age route: %d, want 200", got)
			}
		})
	}
}
