package integration_test

import (
	"fmt"
	"maps"
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
//
// It waits in real time, so it runs against the strict provider (which
// sends auth_time only because max_age or the claims parameter asks for
// it) and the lenient one (which always sends it), not once per
// signature algorithm.
func TestSSOStepUp(t *testing.T) {
	t.Parallel()
	forProfiles(t, lenientAndStrict, func(t *testing.T, opts ...oidcprovider.Option) {
		stepUp(t, startIdP(t, opts))
	})
}

func stepUp(t *testing.T, idp *oidcprovider.Provider) {
	const maxAge = 2 * time.Second
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

// TestSSOLogoutEverywhere ends every session of the user, and revokes
// each one's refresh token at the provider.
func TestSSOLogoutEverywhere(t *testing.T) {
	t.Parallel()
	forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
		idp := startIdP(t, opts)
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
		checkRevoked(t, idp.Revocations(), 2)
	})
}

// checkRevoked checks that revs are n revocations, each of a live refresh
// token of alice's that the gateway's client held, all different.
func checkRevoked(t *testing.T, revs []oidcprovider.Revocation, n int) {
	t.Helper()
	if len(revs) != n {
		t.Fatalf("%d revocations at the provider, want %d: %+v", len(revs), n, revs)
	}
	seen := map[string]bool{}
	for _, r := range revs {
		if r.Kind != oidcprovider.TokenKindRefresh || r.TokenTypeHint != "refresh_token" || r.Subject != alice.ID ||
			r.ClientID != ssoClientID || !r.Active || r.Status != http.StatusOK {
			t.Errorf("revocation %+v, want a live refresh_token of %s for client %s, answered 200", r, alice.ID, ssoClientID)
		}
		if seen[r.TokenHash] {
			t.Errorf("the token %s was revoked twice", r.TokenHash)
		}
		seen[r.TokenHash] = true
	}
}

// TestBrowserGetsAnHTMLErrorPage: a browser refused sees a page with the
// request id, an API client JSON: on an API-key route, and with a
// session that lacks a group (which the strict provider's users have
// only through UserInfo).
func TestBrowserGetsAnHTMLErrorPage(t *testing.T) {
	t.Parallel()
	t.Run("api_key", func(t *testing.T) {
		t.Parallel()
		_, block := newKey(t)
		up := harness.StartUpstream(t)
		gw := harness.StartGateway(t, apiKeyGateway(up.Addr, "store memory", block))
		checkErrorPages(t, gw, "/orders", nil, 401)
	})
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
			idp := startIdP(t, opts)
			up := harness.StartUpstream(t)
			gw := harness.StartGateway(t, ssoSite(idp.Issuer(), "store memory", "", func(p harness.Ports) string {
				return fmt.Sprintf(`http://127.0.0.1:%d {
	portcullis /staff/* {
		require_claim groups staff
	}
	portcullis
	reverse_proxy %s
}
`, p.HTTP, up.Addr)
			}), ssoEnv...)
			registerGateway(idp, gw)
			cookie := newAgent(t).loginAt(gw, "/")
			if got := withSession(t, gw, "/reports", cookie); got != 200 {
				t.Fatalf("the session: %d", got)
			}
			checkErrorPages(t, gw, "/staff/rota", map[string]string{"Cookie": "portcullis=" + cookie}, 403)
			if n := up.Count(); n != 1 {
				t.Errorf("the upstream received %d requests, want 1 (the refused ones never reach it)", n)
			}
		})
	})
}

// checkErrorPages requests path as a browser and as an API client, with
// headers, and checks that both are refused with status: the browser
// with an HTML page naming the request id, the API client with JSON.
func checkErrorPages(t *testing.T, gw *harness.Gateway, path string, headers map[string]string, status int) {
	t.Helper()
	with := func(more map[string]string) map[string]string {
		h := maps.Clone(headers)
		if h == nil {
			h = map[string]string{}
		}
		maps.Copy(h, more)
		return h
	}
	resp, body := gw.Do(t, "GET", path, with(map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}))
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, resp.Header.Get("X-Request-Id")) {
		t.Fatalf("browser: %d %s, want %d with an HTML page naming the request id\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), status, body)
	}
	resp, _ = gw.Do(t, "GET", path, with(map[string]string{"Accept": "application/json"}))
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("API client: %d %s, want %d with JSON", resp.StatusCode, resp.Header.Get("Content-Type"), status)
	}
}
