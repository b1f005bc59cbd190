package integration_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

var (
	csrfField   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	refreshMeta = regexp.MustCompile(`http-equiv="refresh" content="0;url=([^"]+)"`)
)

// TestVaultConnectFlowBoundToSession: a connect flow is bound to the
// browser session that started it. The same user's other session
// cannot complete it (403, nothing stored), a replayed or forged state
// is refused, and the connect and disconnect forms need a same-origin
// POST with the session's CSRF token. Agents (HTTP clients with cookie
// jars) play the browsers; no Chromium.
func TestVaultConnectFlowBoundToSession(t *testing.T) {
	t.Parallel()
	loginUser, ghUser := vaultUsers()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(loginUser))
	gh := oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.3:0"), oidcprovider.WithUsers(ghUser))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, vaultGateway(idp.Issuer(), gh, up.Addr, "store memory"), vaultEnv...)
	registerGateway(idp, gw)
	registerVaultClient(gh, time.Hour, gw)

	// Two sessions of one user.
	a, b := harness.NewAgent(), harness.NewAgent()
	cookieA, err := a.Login(gw.URL, "/repos", "portcullis", loginUser.Username, loginUser.Password)
	if err != nil || cookieA == "" {
		t.Fatalf("login A: %v", err)
	}
	cookieB, err := b.Login(gw.URL, "/repos", "portcullis", loginUser.Username, loginUser.Password)
	if err != nil || cookieB == "" || cookieB == cookieA {
		t.Fatalf("login B: %v", err)
	}
	connect := gw.URL + "/.portcullis/connect/github"

	// Without a session: 401 for an API client.
	if resp, _ := gw.Do(t, "GET", "/.portcullis/connect/github", map[string]string{"Accept": "application/json"}); resp.StatusCode != 401 {
		t.Fatalf("connect page without a session: %d", resp.StatusCode)
	}

	// A's connect page carries A's CSRF token.
	_, page, err := a.Navigate(connect)
	if err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the connect page:\n%s", page)
	}
	csrfA := html.UnescapeString(m[1])
	post := func(path, cookie, origin string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest("POST", gw.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "portcullis="+cookie)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return harness.Send(t, req)
	}
	for _, c := range []struct {
		name, path, cookie, origin, csrf string
	}{
		{"connect without csrf", "/.portcullis/connect/github", cookieA, gw.URL, ""},
		{"connect with another session's csrf", "/.portcullis/connect/github", cookieB, gw.URL, csrfA},
		{"connect cross-site", "/.portcullis/connect/github", cookieA, "https://evil.example", csrfA},
		{"connect without origin", "/.portcullis/connect/github", cookieA, "", csrfA},
		{"disconnect without csrf", "/.portcullis/disconnect/github", cookieA, gw.URL, ""},
	} {
		if resp, body := post(c.path, c.cookie, c.origin, url.Values{"csrf": {c.csrf}}); resp.StatusCode != 403 || !strings.Contains(body, "request_id") {
			t.Errorf("%s: %d %s, want 403", c.name, resp.StatusCode, body)
		}
	}

	// A starts the flow: a page that continues to GitHub with state and
	// PKCE S256.
	resp, body := post("/.portcullis/connect/github", cookieA, gw.URL, url.Values{"csrf": {csrfA}, "return_to": {"/repos"}})
	m = refreshMeta.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("connect POST: %d %s", resp.StatusCode, body)
	}
	authURL, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || !strings.HasPrefix(authURL.String(), gh.AuthorizationURL()) {
		t.Fatalf("continues to %q", m[1])
	}
	q := authURL.Query()
	if q.Get("state") == "" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("redirect_uri") != gw.URL+"/.portcullis/connect/github/callback" || q.Get("client_id") != vaultGHClientID {
		t.Fatalf("authorization request: %v", q)
	}

	// At GitHub; its answer is captured, not followed.
	a.StopAt(gw.URL + "/.portcullis/connect/github/callback")
	r, page, err := a.Navigate(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	r, _, err = a.SubmitLogin(r, page, ghUser.Username, ghUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	callback := r.Header.Get("Location")
	if !strings.HasPrefix(callback, gw.URL+"/.portcullis/connect/github/callback?") {
		t.Fatalf("GitHub answered %d to %q", r.StatusCode, callback)
	}
	cbPath := strings.TrimPrefix(callback, gw.URL)

	// B brings A's answer: refused, nothing is connected for anyone.
	resp, body = gw.Do(t, "GET", cbPath, map[string]string{"Cookie": "portcullis=" + cookieB, "Accept": "application/json"})
	if resp.StatusCode != 403 || !strings.Contains(body, "another session") {
		t.Fatalf("callback in another session: %d %s", resp.StatusCode, body)
	}
	// The flow was single-use: A's own late attempt is refused too.
	resp, body = gw.Do(t, "GET", cbPath, map[string]string{"Cookie": "portcullis=" + cookieA, "Accept": "application/json"})
	if resp.StatusCode != 400 {
		t.Fatalf("replayed callback: %d %s", resp.StatusCode, body)
	}
	forged := strings.Replace(cbPath, "state="+url.QueryEscape(q.Get("state")), "state=forged", 1)
	if resp, body := gw.Do(t, "GET", forged, map[string]string{"Cookie": "portcullis=" + cookieA, "Accept": "application/json"}); resp.StatusCode != 400 {
		t.Fatalf("forged state: %d %s", resp.StatusCode, body)
	}
	for _, c := range []string{cookieA, cookieB} {
		resp, body := gw.Do(t, "GET", "/.portcullis/connections", map[string]string{"Cookie": "portcullis=" + c, "Accept": "application/json"})
		if resp.StatusCode != 200 || !strings.Contains(body, `"connected":false`) {
			t.Fatalf("connections after refused callbacks: %d %s", resp.StatusCode, body)
		}
	}
	if up.Count() != 0 {
		t.Fatal("the upstream was reached")
	}
	logs := gw.Logs()
	if !strings.Contains(logs, `"reason":"session_mismatch"`) || !strings.Contains(logs, `"event":"upstream_connect_failed"`) {
		t.Fatal("no upstream_connect_failed event with reason session_mismatch")
	}
	if strings.Contains(logs, csrfA) {
		t.Fatal("a CSRF token appears in the logs")
	}
}
