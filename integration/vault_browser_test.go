package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestVaultConnectInjectRefreshDisconnect: two gateways share a real
// redis-server; a second harness provider plays "GitHub". In Chromium a
// user signs in, is sent to connect GitHub by a route with `inject
// github`, connects it, and the upstream receives that user's GitHub
// token (and never the session cookie). When the token has expired,
// concurrent requests on both replicas cause exactly one refresh at
// GitHub. Redis holds only ciphertext. Disconnecting revokes the tokens
// at GitHub and stops injection: browsers are sent to the connect page,
// APIs get 403 with the connect URL, JSON-RPC (MCP) calls get the
// URLElicitationRequiredError (-32042).
func TestVaultConnectInjectRefreshDisconnect(t *testing.T) {
	t.Parallel()
	rdb := redistest.SharedStandalone(t)
	loginUser, ghUser := vaultUsers()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(loginUser))
	gh := oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.3:0"), oidcprovider.WithUsers(ghUser))
	up := harness.StartUpstream(t)
	conf := vaultGateway(idp.Issuer(), gh, up.Addr, redisStore(rdb.URL()))
	gw1 := harness.StartGateway(t, conf, vaultEnv...)
	gw2 := harness.StartGateway(t, conf, vaultEnv...)
	registerGateway(idp, gw1, gw2)
	const shortLife = 4 * time.Second
	registerVaultClient(gh, shortLife, gw1, gw2)

	// Sign in; the route needs GitHub, so the browser is sent to connect it.
	b := browser.New(t)
	target := gw1.URL + "/repos?page=1"
	b.Navigate(target)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(loginUser.Username, loginUser.Password)
	b.WaitURLFunc("the connect page", func(u string) bool { return strings.HasPrefix(u, gw1.URL+"/.portcullis/connect/github?") })
	if page := b.BodyText(); !strings.Contains(page, "Connect GitHub") || !strings.Contains(page, "offline_access") {
		t.Fatalf("the connect page does not say what will be connected:\n%s", page)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream was reached %d times before GitHub was connected", n)
	}
	b.Click("form button[name=connect]")
	b.WaitURL(gh.Issuer() + oidcprovider.PathLogin)
	b.Login(ghUser.Username, ghUser.Password)
	b.WaitURLFunc("the original page", func(u string) bool { return u == target })
	landed := time.Now() // every token so far was issued before this
	token := injectedToken(t, b.BodyText())
	if sub := githubUser(t, gh, token); sub != ghUser.ID {
		t.Fatalf("the injected token is GitHub's token of %q, want %q", sub, ghUser.ID)
	}
	ck, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok {
		t.Fatal("no session cookie")
	}
	for _, h := range up.Received() {
		if strings.Contains(strings.Join(h.Values("Cookie"), ";"), ck.Value) {
			t.Fatal("the session cookie reached the upstream")
		}
	}
	cookie := "portcullis=" + ck.Value

	// Both replicas inject it.
	for _, gw := range []*harness.Gateway{gw1, gw2} {
		resp, body := gw.Do(t, "GET", "/api/user", map[string]string{"Cookie": cookie, "Accept": "application/json"})
		if resp.StatusCode != 200 {
			t.Fatalf("API request on %s: %d %s", gw.URL, resp.StatusCode, body)
		}
		if got := injectedToken(t, body); got != token {
			t.Fatalf("replica %s injected another token", gw.URL)
		}
	}

	// GitHub's tokens now live an hour. Once the connected one has
	// expired, concurrent requests on both replicas refresh it once.
	registerVaultClient(gh, time.Hour, gw1, gw2)
	time.Sleep(time.Until(landed.Add(shortLife + 500*time.Millisecond)))
	before, _ := refreshRequests(gh)
	refreshEvents := func() int { return strings.Count(gw1.Logs()+gw2.Logs(), `"event":"upstream_refresh"`) }
	eventsBefore := refreshEvents()
	const n = 24
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		gw := []*harness.Gateway{gw1, gw2}[i%2]
		wg.Go(func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/repos/%d", gw.URL, i), nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Accept", "application/json")
			resp, body := harness.Send(t, req)
			if resp.StatusCode != 200 {
				t.Errorf("request %d during the refresh: %d %s", i, resp.StatusCode, body)
				return
			}
			var h map[string][]string
			if err := json.Unmarshal([]byte(body), &h); err == nil && len(h["Authorization"]) == 1 {
				tokens[i] = strings.TrimPrefix(h["Authorization"][0], "Bearer ")
			}
		})
	}
	wg.Wait()
	after, reused := refreshRequests(gh)
	if after-before != 1 || reused != 0 {
		t.Fatalf("GitHub saw %d refresh requests for %d concurrent requests on two replicas (%d reused a refresh token), want exactly 1", after-before, n, reused)
	}
	refreshed := tokens[0]
	for i, tok := range tokens {
		if tok == "" || tok != refreshed {
			t.Fatalf("request %d carried %q, request 0 %q: want the one refreshed token everywhere", i, abbrev(tok), abbrev(refreshed))
		}
	}
	if refreshed == token {
		t.Fatal("the expired token was sent upstream")
	}
	if sub := githubUser(t, gh, refreshed); sub != ghUser.ID {
		t.Fatalf("the refreshed token is %q's", sub)
	}
	if c := refreshEvents() - eventsBefore; c != 1 {
		t.Fatalf("%d upstream_refresh audit events during the requests, want 1", c)
	}

	// Redis holds only ciphertext: no token, no user id in any value.
	assertRedisOpaque(t, rdb.Addr(), []string{token, refreshed, ghUser.ID, loginUser.ID})

	// Disconnect from the connections page (on the other replica).
	b.Navigate(gw2.URL + "/.portcullis/connections")
	if page := b.BodyText(); !strings.Contains(page, "GitHub: connected") {
		t.Fatalf("connections page:\n%s", page)
	}
	b.Click("form button[name=disconnect]")
	// The page after the POST offers to connect again (a connected
	// provider has no connect button).
	b.WaitVisible("form button[name=connect]")
	if u, page := b.CurrentURL(), b.BodyText(); u != gw2.URL+"/.portcullis/connections" || !strings.Contains(page, "GitHub: not connected") {
		t.Fatalf("after disconnecting: %s\n%s", u, page)
	}
	var revokedRefresh, revokedAccess bool
	for _, r := range gh.Revocations() {
		if r.ClientID != vaultGHClientID || r.Status != 200 || !r.Active {
			continue
		}
		revokedRefresh = revokedRefresh || r.Kind == oidcprovider.TokenKindRefresh && r.TokenTypeHint == "refresh_token" && r.Subject == ghUser.ID
		revokedAccess = revokedAccess || r.Kind == oidcprovider.TokenKindAccess && r.TokenHash == oidcprovider.TokenFingerprint(refreshed)
	}
	if !revokedRefresh || !revokedAccess {
		t.Fatalf("revocations at GitHub: %+v (refresh token revoked %v, access token %v)", gh.Revocations(), revokedRefresh, revokedAccess)
	}

	// Injection stops: the upstream is not reached again.
	reached := up.Count()
	resp, body := gw1.Do(t, "GET", "/api/user", map[string]string{"Cookie": cookie, "Accept": "application/json"})
	var problem struct {
		Error      string `json:"error"`
		ConnectURL string `json:"connect_url"`
		RequestID  string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &problem); err != nil || resp.StatusCode != 403 || problem.Error != "connection_required" ||
		problem.ConnectURL != gw1.URL+"/.portcullis/connect/github" || problem.RequestID == "" || problem.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("API request after disconnecting: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", gw2.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_repos","arguments":{}}}`))
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, body = harness.Send(t, req)
	var rpc struct {
		ID    json.RawMessage `json:"id"`
		Error struct {
			Code int `json:"code"`
			Data struct {
				Elicitations []struct {
					Mode, ElicitationID, URL, Message string
				} `json:"elicitations"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &rpc); err != nil || resp.StatusCode != 200 || string(rpc.ID) != "7" || rpc.Error.Code != -32042 ||
		len(rpc.Error.Data.Elicitations) != 1 || rpc.Error.Data.Elicitations[0].Mode != "url" || rpc.Error.Data.Elicitations[0].URL != gw2.URL+"/.portcullis/connect/github" {
		t.Fatalf("JSON-RPC call after disconnecting: %d %s", resp.StatusCode, body)
	}
	b.Navigate(gw1.URL + "/repos")
	b.WaitURLFunc("the connect page", func(u string) bool { return strings.HasPrefix(u, gw1.URL+"/.portcullis/connect/github?") })
	if got := up.Count(); got != reached {
		t.Fatalf("the upstream was reached %d times after disconnecting", got-reached)
	}
	// MCP set-up goes on, without any Authorization header.
	req, _ = http.NewRequest("POST", gw1.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Content-Type", "application/json")
	if resp, body := harness.Send(t, req); resp.StatusCode != 200 || up.Count() != reached+1 {
		t.Fatalf("initialize without a connection: %d %s", resp.StatusCode, body)
	}
	if last := up.Received()[reached]; last.Get("Authorization") != "" || strings.Contains(strings.Join(last.Values("Cookie"), ";"), ck.Value) {
		t.Fatalf("initialize reached the upstream with a credential: %v", last)
	}

	logs := gw1.Logs() + gw2.Logs()
	for _, ev := range []string{`"event":"upstream_connect"`, `"event":"upstream_inject"`, `"event":"upstream_disconnect"`, `"reason":"revoked"`, `"event":"upstream_missing"`, `"reason":"upstream_not_connected"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("no %s in the gateways' logs", ev)
		}
	}
	for _, secret := range []string{token, refreshed, vaultGHClientSecret, ck.Value} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret (%s) appears in the logs", abbrev(secret))
		}
	}
}

// injectedToken reads the GitHub token from the upstream's echo.
func injectedToken(t *testing.T, body string) string {
	t.Helper()
	var echoed map[string][]string
	if err := json.Unmarshal([]byte(body), &echoed); err != nil {
		t.Fatalf("not the upstream's echo: %v\n%s", err, body)
	}
	auth := echoed["Authorization"]
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") || len(auth[0]) < len("Bearer ")+16 {
		t.Fatalf("upstream Authorization: %q", auth)
	}
	return strings.TrimPrefix(auth[0], "Bearer ")
}

// githubUser asks gh's userinfo endpoint whose token this is.
func githubUser(t *testing.T, gh *oidcprovider.Provider, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", gh.UserinfoURL(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, body := harness.Send(t, req)
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GitHub userinfo: %d %s", resp.StatusCode, body)
	}
	return info.Sub
}

// assertRedisOpaque reads every string value in Redis, raw, and fails if
// any holds one of secrets; it also checks that vault records exist.
func assertRedisOpaque(t *testing.T, addr string, secrets []string) {
	t.Helper()
	c := dialRedis(t, addr)
	if len(c.scan(t, "pcl:{v:*")) == 0 {
		t.Fatal("no vault record (pcl:{v:…}) in Redis")
	}
	checked := 0
	for _, k := range c.scan(t, "*") {
		if typ, _ := c.do(t, "TYPE", k).(string); typ != "string" {
			continue
		}
		v, _ := c.do(t, "GET", k).([]byte)
		checked++
		for _, s := range secrets {
			if strings.Contains(string(v), s) || strings.Contains(k, s) {
				t.Fatalf("Redis key %q holds %s in clear", k, abbrev(s))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no string value read from Redis")
	}
}

// abbrev shows the start of a secret in a failure message.
func abbrev(s string) string {
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}
