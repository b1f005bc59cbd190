package integration_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// stepUpGateway has a sensitive area that needs a login of at most 2 s
// ago, and an API area for API keys only.
func stepUpGateway(issuer, upstream string) harness.Caddyfile {
	return ssoSite(issuer, "store memory", "", func(p harness.Ports) string {
		return fmt.Sprintf(`http://127.0.0.1:%d {
	portcullis /admin/* {
		max_age 2s
	}
	portcullis /api/* {
		accept api_key
	}
	portcullis {
		accept session
	}
	reverse_proxy %s
}
`, p.HTTP, upstream)
	})
}

// TestSSOStepUp: after max_age, a browser is sent back to the provider
// to log in again (prompt=login, max_age) and comes back; an API call
// gets 401 insufficient_user_authentication; other pages keep working.
//
// max_age (2 s) runs in real time from the login at the provider, so a
// login counts as fresh only for a check that ended less than max_age
// after the login began; a check a busy machine made later proves
// nothing, and the login is tried again.
func TestSSOStepUp(t *testing.T) {
	t.Parallel()
	const maxAge = 2 * time.Second
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, stepUpGateway(idp.Issuer(), up.Addr), ssoEnv...)
	registerGateway(idp, gw)
	// freshLogin logs a in (with the provider asking for the password)
	// and checks that the session opens the admin area.
	freshLogin := func(a *agent, what string) string {
		t.Helper()
		for attempt := 1; ; attempt++ {
			began := time.Now()
			cookie := a.loginAt(gw, "/admin/panel")
			code := withSession(t, gw, "/admin/panel", cookie)
			switch {
			case code == 200:
				return cookie
			case time.Since(began) < maxAge:
				t.Fatalf("%s cannot open the admin area: %d", what, code)
			case attempt == 3:
				t.Fatalf("%s: %d logins in a row took longer than max_age (%v) to check", what, attempt, maxAge)
			}
			t.Logf("%s was checked %v after it began, beyond max_age (a busy machine); again", what, time.Since(began))
		}
	}
	a := newAgent(t)
	cookie := freshLogin(a, "a fresh login")
	time.Sleep(maxAge + 500*time.Millisecond)
	resp, _ := gw.Do(t, "GET", "/admin/panel", map[string]string{"Cookie": "portcullis=" + cookie, "Accept": "application/json"})
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(wa, `error="insufficient_user_authentication"`) || !strings.Contains(wa, "max_age=2") {
		t.Fatalf("API call after max_age: %d %q", resp.StatusCode, wa)
	}
	if withSession(t, gw, "/reports", cookie) != 200 {
		t.Fatal("the session no longer works where no max_age applies")
	}
	if got := withSession(t, gw, "/api/orders", cookie); got != 401 {
		t.Fatalf("an API-key-only route accepted a browser session: %d", got)
	}
	resp, _ = gw.Do(t, "GET", "/admin/panel", map[string]string{"Cookie": "portcullis=" + cookie, "Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !slices.Contains(strings.Fields(loc.Query().Get("prompt")), "login") || loc.Query().Get("max_age") != "2" {
		t.Fatalf("browser after max_age: %d to %q, want a login with prompt=login&max_age=2", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Logging in again (the provider asks for the password) opens it again.
	freshLogin(a, "the re-authenticated session")
}

// TestSSOLogoutEverywhere ends every session of the user.
func TestSSOLogoutEverywhere(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)
	laptop, phone := newAgent(t).loginAt(gw, "/"), newAgent(t).loginAt(gw, "/")
	req, _ := http.NewRequest("POST", gw.URL+"/.portcullis/logout", strings.NewReader("everywhere=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", gw.URL)
	req.Header.Set("Cookie", "portcullis="+laptop)
	if resp, _ := harness.Send(t, req); resp.StatusCode >= 400 {
		t.Fatalf("logout everywhere: %d", resp.StatusCode)
	}
	if withSession(t, gw, "/", laptop) != 401 || withSession(t, gw, "/", phone) != 401 {
		t.Fatal("a session survived logout everywhere")
	}
}

// TestBrowserGetsAnHTMLErrorPage: a browser refused on an API-key route
// sees a page with the request id, an API client JSON.
func TestBrowserGetsAnHTMLErrorPage(t *testing.T) {
	t.Parallel()
	_, block := newKey(t)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, apiKeyGateway(up.Addr, "store memory", block))
	resp, body := gw.Do(t, "GET", "/orders", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, resp.Header.Get("X-Request-Id")) {
		t.Fatalf("browser: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, _ = gw.Do(t, "GET", "/orders", map[string]string{"Accept": "application/json"})
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("API client: %s", resp.Header.Get("Content-Type"))
	}
}
