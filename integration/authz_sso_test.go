package integration_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Users of the authorization tests: ann is an admin with a second
// factor (her one-time password), sam is staff.
var (
	ann = oidcprovider.User{ID: "u-ann", Username: "ann", Password: "ann-pass", Email: "ann@example.test", EmailVerified: true,
		Groups: []string{"admins", "everyone"}, OTP: "314159"}
	sam = oidcprovider.User{ID: "u-sam", Username: "sam", Password: "sam-pass", Email: "sam@example.test", EmailVerified: true,
		Groups: []string{"staff", "everyone"}}
)

// authzGateway is a browser-session gateway whose global option adds
// global (grants, mfa …) and asks the provider for orders:read besides
// the OpenID Connect scopes; routes is the site's portcullis directives.
func authzGateway(issuer, upstream, global, routes string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		store memory
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %s {
			client_id %s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%d/.portcullis/callback
			scopes openid email profile offline_access orders:read
		}
		scope orders:admin implies orders:write
		scope orders:write implies orders:read
		known_scopes reports:read
		%s
	}
}

http://127.0.0.1:%d {
	%s
	portcullis {
		accept session
	}
	reverse_proxy %s
}
`, p.Global(), issuer, ssoClientID, p.HTTP, global, p.HTTP, routes, upstream)
	}
}

// authzLogin opens path in a fresh browser, logs u in with the password
// alone, and waits to land back on path. It returns the browser and the
// session cookie's value.
func authzLogin(t *testing.T, idp *oidcprovider.Provider, gw *harness.Gateway, u oidcprovider.User, path string) (*browser.Browser, string) {
	t.Helper()
	b := browser.New(t)
	b.Navigate(gw.URL + path)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(u.Username, u.Password)
	b.WaitURLFunc("the protected page "+path, func(s string) bool { return s == gw.URL+path })
	ck, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok {
		t.Fatal("no session cookie after login")
	}
	return b, ck.Value
}

// echoed reads the upstream's echo of the request headers from the page.
func echoed(t *testing.T, b *browser.Browser) map[string][]string {
	t.Helper()
	var h map[string][]string
	if err := json.Unmarshal([]byte(b.BodyText()), &h); err != nil {
		t.Fatalf("the page is not the upstream's echo: %v\n%s", err, b.BodyText())
	}
	return h
}

// asAPI sends GET path with the session cookie as an API client.
func asAPI(t *testing.T, gw *harness.Gateway, path, cookie string) (status int, wwwAuthenticate string, headers map[string][]string) {
	t.Helper()
	resp, body := gw.Do(t, "GET", path, map[string]string{"Cookie": "portcullis=" + cookie, "Accept": "application/json"})
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(body), &headers); err != nil {
			t.Fatalf("the answer is not the upstream's echo: %v\n%s", err, body)
		}
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), headers
}

// TestAuthzScopesFromGroups: with `grant orders:admin to groups admins`,
// an admin's browser session reaches an orders:admin route and the
// upstream sees the effective scopes (provider-granted, mapped, implied);
// a staff user gets 403 naming the scope; a scope the provider granted
// (orders:read, in the token response) works for a user no grant gives
// it to; and the audit event shows the effective scopes.
func TestAuthzScopesFromGroups(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(ann, sam))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, authzGateway(idp.Issuer(), up.Addr,
		"grant orders:admin to groups admins\n\t\tgrant reports:read to groups staff\n\t\tidentity_groups mentioned",
		"portcullis /admin* {\n\t\trequire orders:admin\n\t}\n\tportcullis /orders* {\n\t\trequire orders:read\n\t}\n\tportcullis /reports* {\n\t\trequire reports:read\n\t}"),
		ssoEnv...)
	registerGateway(idp, gw)

	b, annCookie := authzLogin(t, idp, gw, ann, "/admin/panel")
	h := echoed(t, b)
	if s := h["X-Auth-Subject"]; len(s) != 1 || s[0] != ann.ID {
		t.Fatalf("upstream subject: %v", h)
	}
	wantScopes := []string{"orders:read", "orders:admin", "orders:write"}
	if got := strings.Fields(strings.Join(h["X-Auth-Scopes"], " ")); !slices.Equal(got, wantScopes) {
		t.Fatalf("X-Auth-Scopes %q, want %q (provider-granted, mapped from admins, implied)", got, wantScopes)
	}
	if got := h["X-Auth-Groups"]; !slices.Equal(got, []string{"admins"}) {
		t.Errorf("X-Auth-Groups %q, want only the group the configuration mentions (identity_groups mentioned)", got)
	}
	if !strings.Contains(gw.Logs(), `"granted_scopes":["orders:read","orders:admin","orders:write"]`) {
		t.Errorf("no audit event with the effective scopes:\n%s", gw.Logs())
	}
	if code, _, _ := asAPI(t, gw, "/reports/q1", annCookie); code != 403 {
		t.Errorf("an admin reached a reports:read route (grant reports:read is for staff): %d", code)
	}

	b2, samCookie := authzLogin(t, idp, gw, sam, "/reports/q1")
	if got := strings.Fields(strings.Join(echoed(t, b2)["X-Auth-Scopes"], " ")); !slices.Equal(got, []string{"orders:read", "reports:read"}) {
		t.Fatalf("staff X-Auth-Scopes %q, want orders:read (provider) and reports:read (grant)", got)
	}
	b2.Navigate(gw.URL + "/admin/panel")
	if text := b2.BodyText(); !strings.Contains(text, "Forbidden") {
		t.Fatalf("staff at the admin page sees %q, want a 403 page", text)
	}
	code, challenge, _ := asAPI(t, gw, "/admin/panel", samCookie)
	if code != 403 || !strings.Contains(challenge, `error="insufficient_scope"`) || !strings.Contains(challenge, `scope="orders:admin"`) {
		t.Fatalf("staff at the admin API: %d %q, want 403 insufficient_scope naming orders:admin", code, challenge)
	}
	if code, _, _ := asAPI(t, gw, "/orders/7", samCookie); code != 200 {
		t.Fatalf("the scope the provider granted (orders:read) does not open /orders: %d", code)
	}
}

// TestAuthzGroupsChangeAtRefresh: when the provider moves a user into
// admins, the session gets orders:admin at its next token refresh, and
// loses it when the provider moves the user out again. Access tokens
// live 4 s, so the gateway refreshes them 2 s after they were issued
// (half their life). The test waits at least that long; waiting longer
// only lets more refreshes happen, which changes nothing.
func TestAuthzGroupsChangeAtRefresh(t *testing.T) {
	t.Parallel()
	const lifetime = 4 * time.Second
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(sam), oidcprovider.WithAccessTokenLifetime(lifetime))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, authzGateway(idp.Issuer(), up.Addr, "grant orders:admin to groups admins",
		"portcullis /admin* {\n\t\trequire orders:admin\n\t}"), ssoEnv...)
	registerGateway(idp, gw)

	began := time.Now()
	_, cookie := authzLogin(t, idp, gw, sam, "/")
	loggedIn := time.Now() // the tokens were issued between began and now
	idp.SetGroups(sam.ID, "staff", "admins")
	code, _, _ := asAPI(t, gw, "/admin/panel", cookie)
	// Before the refresh window the session still has the login's groups;
	// a check that ended later proves nothing (it may have refreshed).
	if time.Since(began) < lifetime/2 && code != 403 {
		t.Fatalf("the new group reached the session before any refresh: %d", code)
	}
	refreshes := strings.Count(gw.Logs(), `"event":"refresh"`)

	time.Sleep(time.Until(loggedIn.Add(lifetime/2 + 500*time.Millisecond)))
	code, _, h := asAPI(t, gw, "/admin/panel", cookie)
	if code != 200 || !slices.Contains(strings.Fields(strings.Join(h["X-Auth-Scopes"], " ")), "orders:admin") {
		t.Fatalf("after a refresh with the user in admins: %d, scopes %v", code, h["X-Auth-Scopes"])
	}
	if strings.Count(gw.Logs(), `"event":"refresh"`) <= refreshes {
		t.Fatal("no refresh audit event: the scopes changed without a refresh?")
	}

	idp.SetGroups(sam.ID, "staff")
	time.Sleep(lifetime/2 + 500*time.Millisecond) // past the refresh window of the tokens refreshed above
	if code, _, _ := asAPI(t, gw, "/admin/panel", cookie); code != 403 {
		t.Fatalf("after a refresh with the user out of admins: %d, want 403", code)
	}
}
