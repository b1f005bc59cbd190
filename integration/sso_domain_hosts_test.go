package integration_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSODomainSignInOnceAcrossHosts: in Chromium, a login on
// app.example.test (through the chooser on the auth host) opens
// api.example.test without a prompt (the SameSite=Strict domain cookie
// is sent after the landing page's same-site navigation); a logout on
// api ends the session for app as well.
func TestSSODomainSignInOnceAcrossHosts(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{})
	b := newHostBrowser(t)
	signInOnceAcrossHosts(t, e, b, e.gw(), e.gw())
}

// signInOnceAcrossHosts signs in on host app of gwA, uses host api of
// gwB, logs out there and finds app of gwA logged out. gwA and gwB are
// one gateway or two replicas sharing a store.
func signInOnceAcrossHosts(t *testing.T, e *domainEnv, b *hostBrowser, gwA, gwB *harness.Gateway) {
	t.Helper()
	onA := e.url(gwA, "app", "/one?x=1")
	b.navigate(onA)
	b.waitPrefix(e.url(gwA, "auth", "/.portcullis/login?"))
	b.click(`button[name="provider"][value="` + staffIdP + `"]`)
	b.waitPrefix(e.staff.Issuer() + oidcprovider.PathLogin)
	b.signIn(staffAlice.Username, staffAlice.Password)
	b.waitAt(onA)
	wantIdentity(t, "host A after the login", b.echo(), staffIdP, staffAlice, e.staff.Issuer())

	ck, ok := b.cookie(e.cookieName)
	switch {
	case !ok:
		t.Fatal("no session cookie after the login")
	case ck.Domain != "."+domainName:
		t.Errorf("session cookie domain %q, want .%s (shared by the domain's hosts)", ck.Domain, domainName)
	case !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Secure != (e.scheme == "https"):
		t.Errorf("session cookie: HttpOnly %v, SameSite %q, Secure %v; want HttpOnly, Strict, Secure over https", ck.HTTPOnly, ck.SameSite, ck.Secure)
	}

	// Host B: no redirect, no request to the provider.
	authorize := e.staff.Hits(oidcprovider.PathAuthorize)
	onB := e.url(gwB, "api", "/two")
	if status := b.navigate(onB); status != http.StatusOK {
		t.Fatalf("host B answered %d with the session of host A", status)
	}
	b.waitAt(onB)
	wantIdentity(t, "host B", b.echo(), staffIdP, staffAlice, e.staff.Issuer())
	if n := e.staff.Hits(oidcprovider.PathAuthorize); n != authorize {
		t.Errorf("opening host B sent the browser to the provider (%d authorization requests, %d before)", n, authorize)
	}
	if code, w := e.whoami(t, gwB, "api", ck.Value); code != http.StatusOK || w.Subject != staffIdP+":"+staffAlice.ID || w.Provider != staffIdP {
		t.Fatalf("whoami on host B: %d %+v", code, w)
	}

	// Logout on host B, with its form.
	b.navigate(e.url(gwB, "api", "/.portcullis/logout"))
	b.click(`form button[type="submit"]`)
	b.waitPrefix(e.url(gwB, "auth", "/bye"))
	if c, ok := b.cookie(e.cookieName); ok {
		t.Errorf("the session cookie survived the logout: %+v", c)
	}
	// The session is gone, not only the cookie: host A refuses it.
	if code, _ := e.whoami(t, gwA, "app", ck.Value); code != http.StatusUnauthorized {
		t.Errorf("host A after the logout on host B: whoami %d, want 401", code)
	}
	resp, body := e.do(t, "GET", e.url(gwA, "app", "/one"), ck.Value, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, staffAlice.Email) {
		t.Errorf("host A after the logout on host B: %d %s, want 401", resp.StatusCode, body)
	}
	// Host A needs a login again: the chooser on the auth host.
	b.navigate(e.url(gwA, "app", "/three"))
	b.waitPrefix(e.url(gwA, "auth", "/.portcullis/login?"))
	if !strings.Contains(b.quickText(), "Sign in with Staff") {
		t.Errorf("host A after the logout does not show the chooser: %q", b.quickText())
	}
}
