package integration_test

import (
	"encoding/json"
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

// agent wraps harness.Agent for tests: failures end the test.
type agent struct {
	t *testing.T
	*harness.Agent
}

func newAgent(t *testing.T) *agent { return &agent{t: t, Agent: harness.NewAgent()} }

// navigate GETs u as a top-level browser navigation, following redirects.
func (a *agent) navigate(u string) (*http.Response, string) {
	a.t.Helper()
	resp, body, err := a.Navigate(u)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp, body
}

// landingNext finds where the gateway's landing page (after a login)
// continues: its meta refresh, or its link with id next.
var landingNext = regexp.MustCompile(`http-equiv="refresh" content="0;\s*url=([^"]*)"|<a id="next" href="([^"]*)"`)

// landingTarget returns where the landing page body continues, "" if
// body is not a landing page.
func landingTarget(body string) string {
	m := landingNext.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1] + m[2])
}

// landedAt returns where the landing page that resp (the last of a
// navigation) and body are continues, "" if they are not the landing
// page the callback answers.
func landedAt(resp *http.Response, body string) string {
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/.portcullis/callback") {
		return ""
	}
	return landingTarget(body)
}

// loginAt logs in through the gateway (filling the provider's login form
// if it shows one) and returns the session cookie value.
func (a *agent) loginAt(gw *harness.Gateway, path string) string {
	a.t.Helper()
	resp, body := a.navigate(gw.URL + path)
	if strings.Contains(body, `id="login-form"`) {
		var err error
		if resp, body, err = a.SubmitLogin(resp, body, alice.Username, alice.Password); err != nil {
			a.t.Fatalf("login at %s: %v", gw.URL, err)
		}
	}
	c := a.Cookie(gw.URL, "portcullis")
	if landedAt(resp, body) == "" || c == "" {
		a.t.Fatalf("login at %s: no landing page and session cookie (%d at %s, cookie %q):\n%s", gw.URL, resp.StatusCode, resp.Request.URL, c, body)
	}
	return c
}

// withSession calls the gateway as an API client with the session cookie.
func withSession(t *testing.T, gw *harness.Gateway, path, cookie string) int {
	t.Helper()
	resp, _ := gw.Do(t, "GET", path, map[string]string{"Cookie": "portcullis=" + cookie, "Accept": "application/json"})
	return resp.StatusCode
}

// TestSSOOpenRedirectsRefused logs in with return URLs an attacker would
// try; every one lands on "/" instead.
func TestSSOOpenRedirectsRefused(t *testing.T) {
	t.Parallel()
	forEachProfile(t, openRedirectsRefused)
}

func openRedirectsRefused(t *testing.T, opts ...oidcprovider.Option) {
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)
	a := newAgent(t)
	a.loginAt(gw, "/warmup") // the provider session makes later logins silent

	payloads := []string{
		"https://evil.example/", "http://evil.example", "//evil.example", "///evil.example", "/\\evil.example",
		"\\\\evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%5Cevil.example", "/%252F%252Fevil.example",
		"javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "/\r\nLocation: https://evil.example",
		"/%0d%0aSet-Cookie:x=y", "/\tevil", " //evil.example", "https:evil.example", "//evil.example@gateway",
		"/..//evil.example", "\x00/evil", "http:/\\/evil.example",
	}
	for _, p := range payloads {
		resp, body := a.navigate(gw.URL + "/.portcullis/login?return_to=" + url.QueryEscape(p))
		next := landedAt(resp, body)
		if next == "" {
			t.Fatalf("payload %q: no landing page (%d at %s):\n%s", p, resp.StatusCode, resp.Request.URL, body)
		}
		if next != "/" {
			t.Errorf("payload %q: landing page continues to %q, want /", p, next)
		}
	}
	// A legitimate path survives.
	if next := landedAt(a.navigate(gw.URL + "/.portcullis/login?return_to=" + url.QueryEscape("/orders/7?tab=items"))); next != "/orders/7?tab=items" {
		t.Fatalf("a same-origin path was not kept: %q", next)
	}
}

// TestSSOBadCookies: tampered, truncated, foreign-key and garbage cookies
// are refused with 401 (never a 500), and a browser is sent to log in.
func TestSSOBadCookies(t *testing.T) {
	t.Parallel()
	forEachProfile(t, badCookies)
}

func badCookies(t *testing.T, opts ...oidcprovider.Option) {
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	other := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""),
		"SSO_SESSION_KEYS=another-key-another-key-another-key-1", "SSO_CLIENT_SECRET="+ssoClientSecret)
	registerGateway(idp, gw, other)
	good := newAgent(t).loginAt(gw, "/")
	foreign := newAgent(t).loginAt(other, "/")
	if withSession(t, gw, "/", good) != 200 {
		t.Fatal("the good cookie does not work")
	}
	flip := []byte(good)
	flip[len(flip)/2] ^= 1
	for name, v := range map[string]string{
		"tampered": string(flip), "truncated": good[:len(good)-5], "foreign key": foreign, "empty": "",
		"garbage": strings.Repeat("A", 3000), "replayed with junk": good + "x",
	} {
		if got := withSession(t, gw, "/", v); got != 401 {
			t.Errorf("%s cookie: %d, want 401", name, got)
		}
		resp, _ := gw.Do(t, "GET", "/", map[string]string{"Cookie": "portcullis=" + v, "Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
		if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), idp.Issuer()) {
			t.Errorf("%s cookie, browser: %d to %q, want a login redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if strings.Contains(gw.Logs(), `"status":500`) || strings.Contains(gw.Logs(), "panic") {
		t.Fatal("a bad cookie caused a server error")
	}
}

// TestSSOTimeouts: an idle session ends after the idle timeout; a busy one
// still ends at the absolute timeout.
//
// The gateway runs in real time, so each check is judged by the times the
// test measured around it and by the reason the gateway's audit event
// gives, never by how long the machine took: a request that began after a
// timeout must be refused, one that ended before it could fire must not
// be, and a refusal's reason must be the timeout that applied. A busy
// session whose polling a loaded machine paused for an idle timeout is
// tried again rather than judged.
//
// Session timeouts do not depend on the provider beyond the login, and
// the test waits for seconds in real time: it runs against the strict
// provider only.
func TestSSOTimeouts(t *testing.T) {
	t.Parallel()
	forProfiles(t, strictProfileOnly, timeouts)
}

func timeouts(t *testing.T, opts ...oidcprovider.Option) {
	const (
		idleTimeout     = 2 * time.Second
		absoluteTimeout = 5 * time.Second
		touch           = idleTimeout / 10 // the session package's default touch interval
	)
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", "idle_timeout 2s\n\t\t\tabsolute_timeout 5s"), ssoEnv...)
	registerGateway(idp, gw)

	// call makes one request with a session and returns its status, when
	// it began and ended, and, for a refusal, the reason of its
	// session_expired audit event.
	type result struct {
		status      int
		began, done time.Time
		reason      string
	}
	call := func(cookie string) result {
		t.Helper()
		r := result{began: time.Now()}
		resp, _ := gw.Do(t, "GET", "/", map[string]string{"Cookie": "portcullis=" + cookie, "Accept": "application/json"})
		r.done, r.status = time.Now(), resp.StatusCode
		if r.status == http.StatusUnauthorized {
			r.reason = expiryReason(t, gw, resp.Header.Get("X-Request-Id"))
		}
		return r
	}

	// The idle session: unused since its login, so refused by the idle
	// timeout, or by the absolute one if the check came that late.
	idleBegan := time.Now()
	idle := newAgent(t).loginAt(gw, "/")
	time.Sleep(idleTimeout + 300*time.Millisecond)
	switch r := call(idle); {
	case r.status != http.StatusUnauthorized:
		t.Fatalf("idle session %v after its login (idle_timeout %v): %d, want 401", r.began.Sub(idleBegan), idleTimeout, r.status)
	case r.done.Before(idleBegan.Add(absoluteTimeout)) && r.reason != "idle_timeout":
		t.Fatalf("idle session refused with reason %q, want idle_timeout", r.reason)
	}

	// The busy session, used every 300 ms: never refused before its
	// absolute timeout, always from then on, and then for that reason.
	for attempt := 1; ; attempt++ {
		began := time.Now()
		busy := newAgent(t).loginAt(gw, "/")
		loggedIn := time.Now()
		paused := false
		prev := result{began: began} // the session's LastSeen starts at its creation
		for {
			r := call(busy)
			if r.status == http.StatusOK {
				if !r.began.Before(loggedIn.Add(absoluteTimeout)) {
					t.Fatalf("busy session accepted %v after its login ended (absolute_timeout %v)", r.began.Sub(loggedIn), absoluteTimeout)
				}
				prev = r
				time.Sleep(300 * time.Millisecond)
				continue
			}
			if r.status != http.StatusUnauthorized {
				t.Fatalf("busy session: %d", r.status)
			}
			// Idle in between only if no request reached the gateway for
			// an idle timeout (less the touch interval): a paused test.
			paused = r.reason == "idle_timeout" && r.done.Sub(prev.began) >= idleTimeout-touch
			switch {
			case paused:
			case r.reason != "absolute_timeout":
				t.Fatalf("busy session refused %v after its login with reason %q, want absolute_timeout", r.done.Sub(began), r.reason)
			case r.done.Before(began.Add(absoluteTimeout)):
				t.Fatalf("busy session refused %v after its login began, before its absolute timeout (%v)", r.done.Sub(began), absoluteTimeout)
			}
			break
		}
		if !paused {
			break
		}
		if attempt == 3 {
			t.Fatalf("%d busy sessions in a row went idle between requests 300 ms apart: the machine pauses for seconds", attempt)
		}
		t.Logf("the test paused for an idle timeout between two requests (a busy machine); again with a new session")
	}
}

// expiryReason returns the reason of the session_expired audit event the
// gateway logged for a request id ("" if it logged none).
func expiryReason(t *testing.T, gw *harness.Gateway, requestID string) string {
	t.Helper()
	return auditReason(t, gw, "session_expired", requestID)
}

// auditReason returns the reason of the audit event the gateway logged
// for a request id ("" if it logged none).
func auditReason(t *testing.T, gw *harness.Gateway, event, requestID string) string {
	t.Helper()
	if requestID == "" {
		t.Fatal("an answer without X-Request-Id")
	}
	found := awaitAudit(gw, func(e auditEvent) bool { return e.RequestID == requestID && e.Event == event })
	return found.Reason
}

// auditEvent is the part of a gateway's audit event the tests read.
type auditEvent struct {
	Event     string `json:"event"`
	Result    string `json:"result"`
	Reason    string `json:"reason"`
	Subject   string `json:"subject"`
	RequestID string `json:"request_id"`
}

// auditEvents returns the gateway's audit events of kind event so far.
func auditEvents(gw *harness.Gateway, event string) []auditEvent {
	var out []auditEvent
	for _, line := range strings.Split(gw.Logs(), "\n") {
		var e auditEvent
		if !strings.Contains(line, `"event":"`+event+`"`) || json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

// awaitAudit returns the first audit event match accepts, waiting for
// it a while: the gateway's output is copied from a pipe. The zero event
// means none came.
func awaitAudit(gw *harness.Gateway, match func(auditEvent) bool) auditEvent {
	deadline := time.Now().Add(10 * time.Second) // "hung", not "slow"
	for {
		for _, line := range strings.Split(gw.Logs(), "\n") {
			var e auditEvent
			if !strings.Contains(line, `"event":"`) || json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			return auditEvent{}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSOBackchannelLogout: a logout at the provider reaches the gateway
// by back-channel and ends the session there.
func TestSSOBackchannelLogout(t *testing.T) {
	t.Parallel()
	forEachProfile(t, backchannelLogout)
}

func backchannelLogout(t *testing.T, opts ...oidcprovider.Option) {
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)
	a := newAgent(t)
	cookie := a.loginAt(gw, "/")
	if withSession(t, gw, "/", cookie) != 200 {
		t.Fatal("session does not work")
	}
	a.navigate(idp.EndSessionURL())
	sent := idp.BackChannelLogouts()
	if len(sent) != 1 || sent[0].Status != 200 {
		t.Fatalf("back-channel logouts sent: %+v", sent)
	}
	if got := withSession(t, gw, "/", cookie); got != 401 {
		t.Fatalf("session after back-channel logout: %d, want 401", got)
	}
	if !strings.Contains(gw.Logs(), `"event":"backchannel_logout"`) {
		t.Error("no backchannel_logout audit event")
	}
}

// TestSSOCallbackAttacks: a replayed callback, a forged state and a
// callback without its flow cookie each fail with 400 and no session.
func TestSSOCallbackAttacks(t *testing.T) {
	t.Parallel()
	forEachProfile(t, callbackAttacks)
}

func callbackAttacks(t *testing.T, opts ...oidcprovider.Option) {
	idp := startIdP(t, opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)

	// Capture the callback URL instead of following it.
	a := newAgent(t)
	a.StopAt(gw.URL + "/.portcullis/callback")
	resp, body := a.navigate(gw.URL + "/page")
	r, _, err := a.SubmitLogin(resp, body, alice.Username, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	a.StopAt("")
	callback := r.Header.Get("Location")
	if !strings.HasPrefix(callback, gw.URL+"/.portcullis/callback?") {
		t.Fatalf("no callback redirect: %d %q", r.StatusCode, callback)
	}
	cb, _ := url.Parse(callback)

	// Without the flow cookie (a stolen URL, another browser): refused,
	// and the state is not used up by it.
	if resp, _ := newAgent(t).navigate(callback); resp.StatusCode != 400 {
		t.Fatalf("callback without the flow cookie: %d, want 400", resp.StatusCode)
	}
	// The genuine callback works once...
	if resp, body := a.navigate(callback); landedAt(resp, body) == "" {
		t.Fatalf("the genuine callback failed:\n%s", body)
	}
	// ...and a replay of it fails, even from the same browser.
	if resp, _ := a.navigate(callback); resp.StatusCode != 400 {
		t.Fatalf("replayed callback: %d, want 400", resp.StatusCode)
	}
	// A forged state fails too.
	forged := *cb
	q := forged.Query()
	q.Set("state", "forged-state")
	forged.RawQuery = q.Encode()
	if resp, _ := a.navigate(forged.String()); resp.StatusCode != 400 {
		t.Fatalf("forged state: %d, want 400", resp.StatusCode)
	}
}
