package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

const (
	ssoClientID     = "gateway"
	ssoClientSecret = "gateway-secret-0123456789"
	ssoSessionKey   = "sso-test-session-key-0123456789abcdef"
)

// ssoProfile is an identity provider the SSO tests run against.
type ssoProfile struct {
	name string
	opts []oidcprovider.Option
}

// The providers of the SSO tests: the lenient one puts every claim into
// every token; the strict one follows OpenID Connect to the letter (user
// claims only from UserInfo, a refresh token only with prompt=consent,
// RFC 9207 iss, auth_time only when asked) and signs with Ed25519 (RFC
// 9864, its default) or ES256.
var (
	profileLenient     = ssoProfile{"lenient", nil}
	profileStrict      = ssoProfile{"strict-ed25519", []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict)}}
	profileStrictES256 = ssoProfile{"strict-es256", []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict), oidcprovider.WithIDTokenAlg(oidcprovider.AlgES256)}}
	allProfiles        = []ssoProfile{profileLenient, profileStrict, profileStrictES256}
	lenientAndStrict   = []ssoProfile{profileLenient, profileStrict}
	strictProfileOnly  = []ssoProfile{profileStrict}
)

// forEachProfile runs test as parallel subtests named lenient,
// strict-ed25519 and strict-es256; test starts its provider with opts
// (followed by its own options).
func forEachProfile(t *testing.T, test func(t *testing.T, opts ...oidcprovider.Option)) {
	t.Helper()
	forProfiles(t, allProfiles, test)
}

// forProfiles is forEachProfile for some profiles only: tests that start
// Chromium or wait in real time run where the profiles differ for them.
func forProfiles(t *testing.T, profiles []ssoProfile, test func(t *testing.T, opts ...oidcprovider.Option)) {
	t.Helper()
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			test(t, slices.Clone(p.opts)...)
		})
	}
}

// startIdP starts a provider of the profile opts with alice and more.
func startIdP(t *testing.T, opts []oidcprovider.Option, more ...oidcprovider.Option) *oidcprovider.Provider {
	t.Helper()
	return oidcprovider.Start(t, append(append(slices.Clone(opts), oidcprovider.WithUsers(alice)), more...)...)
}

// ssoGateway protects an upstream with browser sessions at the provider.
func ssoGateway(issuer, upstream, storeLine, sessionExtra string) harness.Caddyfile {
	return ssoSite(issuer, storeLine, sessionExtra, func(p harness.Ports) string {
		return fmt.Sprintf(`http://127.0.0.1:%d {
	portcullis {
		allow_anonymous /bye
	}
	reverse_proxy %s
}
`, p.HTTP, upstream)
	})
}

// ssoSite is the global options of an SSO gateway followed by site.
func ssoSite(issuer, storeLine, sessionExtra string, site func(p harness.Ports) string) harness.Caddyfile {
	return ssoSiteWith(issuer, storeLine, sessionExtra, "", site)
}

// ssoSiteWith is ssoSite with extra lines in the oidc block.
func ssoSiteWith(issuer, storeLine, sessionExtra, oidcExtra string, site func(p harness.Ports) string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
			%s
		}
		oidc %s {
			client_id %s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%d/.portcullis/callback
			post_logout_redirect_url http://127.0.0.1:%d/bye
			scopes openid email profile offline_access
			%s
		}
	}
}

`, p.Global(), storeLine, sessionExtra, issuer, ssoClientID, p.HTTP, p.HTTP, oidcExtra) + site(p)
	}
}

var ssoEnv = []string{"SSO_SESSION_KEYS=" + ssoSessionKey, "SSO_CLIENT_SECRET=" + ssoClientSecret}

// registerGateway registers a gateway as a confidential client.
func registerGateway(idp *oidcprovider.Provider, gws ...*harness.Gateway) {
	c := oidcprovider.Client{ID: ssoClientID, Secret: ssoClientSecret}
	for _, gw := range gws {
		c.RedirectURIs = append(c.RedirectURIs, gw.URL+"/.portcullis/callback")
		c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, gw.URL+"/bye")
		c.BackChannelLogoutURI = gw.URL + "/.portcullis/backchannel-logout"
	}
	idp.AddClient(c)
}

// TestSSOBrowserLogin: a browser opens a protected page, logs in at the
// provider, and lands on the same page with the upstream seeing its
// identity; the cookie is HttpOnly; API requests get 401, never a
// redirect; logout ends the session.
//
// Chromium is the costly part: it runs against the strict provider and
// the lenient one (whose claims come in the ID token as well); strict
// with ES256 differs only in the signature, which the agent tests check.
func TestSSOBrowserLogin(t *testing.T) {
	t.Parallel()
	forProfiles(t, lenientAndStrict, func(t *testing.T, opts ...oidcprovider.Option) {
		idp := startIdP(t, opts)
		up := harness.StartUpstream(t)
		gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
		registerGateway(idp, gw)
		browserLogin(t, idp, gw)
	})
}

func browserLogin(t *testing.T, idp *oidcprovider.Provider, gw *harness.Gateway) {
	// An API client without a session: 401 JSON, no redirect.
	resp, _ := gw.Do(t, "GET", "/app/page?x=1", map[string]string{"Accept": "application/json"})
	if resp.StatusCode != 401 {
		t.Fatalf("API request without session: %d, want 401", resp.StatusCode)
	}

	b := browser.New(t)
	target := gw.URL + "/app/page?x=1&y=%2Fz"
	b.Navigate(target)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(alice.Username, alice.Password)
	got := b.WaitURLFunc("the original page", func(u string) bool { return u == target })
	if got != target {
		t.Fatalf("landed on %s, want %s", got, target)
	}
	var echoed map[string][]string
	if err := json.Unmarshal([]byte(b.BodyText()), &echoed); err != nil {
		t.Fatalf("page is not the upstream's echo: %v\n%s", err, b.BodyText())
	}
	if s := echoed["X-Auth-Subject"]; len(s) != 1 || s[0] != alice.ID || echoed["X-Auth-Method"][0] != "session" {
		t.Fatalf("upstream identity: %v", echoed)
	}
	if strings.Contains(strings.Join(echoed["Cookie"], ";"), "portcullis") {
		t.Fatalf("the session cookie reached the upstream: %v", echoed["Cookie"])
	}
	ck, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok || !ck.HTTPOnly || ck.SameSite != "Strict" {
		t.Fatalf("session cookie: %+v (found %v)", ck, ok)
	}
	docCookie, err := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(docCookie, "portcullis") {
		t.Fatalf("document.cookie shows the session cookie: %q", docCookie)
	}
	for _, c := range b.Cookies() {
		if len(c.Value) > 400 {
			t.Errorf("cookie %s is %d bytes: tokens in cookies?", c.Name, len(c.Value))
		}
	}

	// whoami, with the browser's cookie, shows the principal but no token.
	b.Navigate(gw.URL + "/.portcullis/whoami")
	who := b.BodyText()
	if !strings.Contains(who, alice.Email) || strings.Contains(strings.ToLower(who), "token") {
		t.Fatalf("whoami: %s", who)
	}

	// Logout through the page's POST form; the session is gone after.
	b.Navigate(gw.URL + "/.portcullis/logout")
	b.Click("form button")
	b.WaitURLFunc("the post-logout page", func(u string) bool { return strings.HasPrefix(u, gw.URL+"/bye") })
	if _, ok := b.Cookie("127.0.0.1", "portcullis"); ok {
		t.Fatal("the session cookie survived logout")
	}
	resp, _ = gw.Do(t, "GET", "/.portcullis/whoami", map[string]string{"Cookie": "portcullis=" + ck.Value})
	if resp.StatusCode != 401 {
		t.Fatalf("the old cookie still opens a session after logout: %d", resp.StatusCode)
	}
	for _, ev := range []string{`"event":"login"`, `"event":"logout"`} {
		if !strings.Contains(gw.Logs(), ev) {
			t.Errorf("no %s audit event", ev)
		}
	}
	for _, secret := range []string{ck.Value, ssoClientSecret, ssoSessionKey} {
		if strings.Contains(gw.Logs(), secret) {
			t.Error("a secret of the login appears in the logs")
		}
	}
}

// TestSSOSessionsAcrossReplicas: two gateways sharing Redis (standalone
// and cluster) accept each other's sessions, and a logout on one ends the
// session on both.
//
// The store, not the provider, is what this test is about: each store
// runs against the strict provider, and standalone also against the
// lenient one (Chromium is the costly part).
func TestSSOSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		storeLine func(t *testing.T) string
		profiles  []ssoProfile
	}{
		{"standalone", func(t *testing.T) string { return redisStore(redistest.SharedStandalone(t).URL()) }, lenientAndStrict},
		{"cluster", func(t *testing.T) string { return redisClusterStore(redistest.SharedCluster(t).Addrs()) }, strictProfileOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			storeLine := c.storeLine(t)
			forProfiles(t, c.profiles, func(t *testing.T, opts ...oidcprovider.Option) {
				sessionsAcrossReplicas(t, storeLine, opts)
			})
		})
	}
}

func sessionsAcrossReplicas(t *testing.T, storeLine string, opts []oidcprovider.Option) {
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw1 := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, storeLine, ""), ssoEnv...)
	gw2 := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, storeLine, ""), ssoEnv...)
	registerGateway(idp, gw1, gw2)

	b := browser.New(t)
	b.Navigate(gw1.URL + "/orders")
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(alice.Username, alice.Password)
	b.WaitURLFunc("the protected page", func(u string) bool { return u == gw1.URL+"/orders" })
	ck, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok {
		t.Fatal("no session cookie")
	}
	cookie := map[string]string{"Cookie": "portcullis=" + ck.Value, "Accept": "application/json"}
	if resp, _ := gw2.Do(t, "GET", "/orders", cookie); resp.StatusCode != 200 {
		t.Fatalf("session from gateway 1 on gateway 2: %d", resp.StatusCode)
	}
	// Logout on gateway 1 (same-origin POST), then gateway 2 refuses within a second.
	req, _ := http.NewRequest("POST", gw1.URL+"/.portcullis/logout", nil)
	req.Header.Set("Cookie", "portcullis="+ck.Value)
	req.Header.Set("Origin", gw1.URL)
	if resp, _ := harness.Send(t, req); resp.StatusCode >= 400 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// Judged by when each check began, so a slow machine cannot
	// fail it, only a gateway that keeps the session too long.
	loggedOut := time.Now()
	for {
		began := time.Now()
		resp, _ := gw2.Do(t, "GET", "/orders", cookie)
		if resp.StatusCode == 401 {
			break
		}
		if late := began.Sub(loggedOut); late >= time.Second {
			t.Fatalf("gateway 2 still accepts the session in a check that began %v after logout: %d", late, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSOLogoutNeedsSameOrigin: a cross-site POST cannot log a user out.
func TestSSOLogoutNeedsSameOrigin(t *testing.T) {
	t.Parallel()
	forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
		idp := oidcprovider.Start(t, opts...)
		up := harness.StartUpstream(t)
		gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", gw.URL+"/.portcullis/logout", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if resp, _ := harness.Send(t, req); resp.StatusCode != 403 {
			t.Fatalf("cross-site logout: %d, want 403", resp.StatusCode)
		}
	})
}
