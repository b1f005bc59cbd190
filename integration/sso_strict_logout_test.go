package integration_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSOStrictLogoutRevokes (RFC 7009): signing out revokes the
// session's refresh token at the provider, and signing out on every
// device revokes every session's. Alice has three sessions: a laptop
// (Chromium), a phone and a tablet (agents). The phone signs out: its
// token is revoked, the others keep working. The laptop signs out on
// every device through its sign-out page: the laptop's and the tablet's
// tokens are revoked and both sessions end.
func TestSSOStrictLogoutRevokes(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, profileStrict.opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)

	b := browser.New(t)
	b.Navigate(gw.URL + "/orders")
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(alice.Username, alice.Password)
	b.WaitURLFunc("the protected page", func(u string) bool { return u == gw.URL+"/orders" })
	ck, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok {
		t.Fatal("no session cookie in the browser")
	}
	laptop := ck.Value
	phone, tablet := newAgent(t).loginAt(gw, "/"), newAgent(t).loginAt(gw, "/")

	// The phone signs out (a same-origin POST, as its sign-out page sends).
	req, _ := http.NewRequest("POST", gw.URL+"/.portcullis/logout", nil)
	req.Header.Set("Origin", gw.URL)
	req.Header.Set("Cookie", "portcullis="+phone)
	if resp, _ := harness.Send(t, req); resp.StatusCode >= 400 {
		t.Fatalf("the phone's logout: %d", resp.StatusCode)
	}
	revs := idp.Revocations()
	checkRevoked(t, revs, 1)
	for name, c := range map[string]string{"laptop": laptop, "tablet": tablet} {
		if got := withSession(t, gw, "/", c); got != http.StatusOK {
			t.Fatalf("the %s's session after the phone signed out: %d", name, got)
		}
	}
	if got := withSession(t, gw, "/", phone); got != http.StatusUnauthorized {
		t.Fatalf("the phone's session after its logout: %d", got)
	}

	// The laptop signs out on every device.
	b.Navigate(gw.URL + "/.portcullis/logout")
	b.Click("#everywhere")
	b.Click("form button")
	b.WaitURLFunc("the post-logout page", func(u string) bool { return strings.HasPrefix(u, gw.URL+"/bye") })
	everywhere := idp.Revocations()[len(revs):]
	checkRevoked(t, everywhere, 2)
	for _, r := range everywhere {
		if r.TokenHash == revs[0].TokenHash {
			t.Error("signing out everywhere revoked the phone's token again")
		}
	}
	for name, c := range map[string]string{"laptop": laptop, "tablet": tablet} {
		if got := withSession(t, gw, "/", c); got != http.StatusUnauthorized {
			t.Errorf("the %s's session after logout everywhere: %d, want 401", name, got)
		}
	}
	if _, ok := b.Cookie("127.0.0.1", "portcullis"); ok {
		t.Error("the session cookie survived logout")
	}
}
