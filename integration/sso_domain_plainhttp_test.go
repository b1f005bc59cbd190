package integration_test

import (
	"net/url"
	"testing"
)

// TestSSODomainPlainHTTP: the same single sign-on over plain http with
// insecure_cookie, as for local development (cookie `portcullis` with
// Domain=example.test, http:// return URLs on the domain's hosts): a
// login on app opens api without a prompt in Chromium, a logout on api
// ends it for app, and a return URL on another host keeps its http://.
func TestSSODomainPlainHTTP(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{plainHTTP: true})
	gw := e.gw()

	// One after the other: the browser test counts the provider's
	// authorization requests.
	t.Run("browser", func(t *testing.T) {
		signInOnceAcrossHosts(t, e, newHostBrowser(t), gw, gw)
	})
	t.Run("return to another host", func(t *testing.T) {
		a := newDomainAgent(t, e)
		want := e.url(gw, "api", "/v1?x=1")
		_, body := a.login(e.url(gw, "auth", "/.portcullis/login?provider="+staffIdP+"&return_to="+url.QueryEscape(want)),
			staffAlice.Username, staffAlice.Password)
		if refresh, link, _ := landingTargets(parsePage(t, body)); refresh != want || link != want {
			t.Fatalf("the landing page continues to %q and %q, want %q", refresh, link, want)
		}
		if a.sessionCookie(want) == "" {
			t.Fatalf("no %s cookie for %s", e.cookieName, want)
		}
	})
}
