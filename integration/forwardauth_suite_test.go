package integration_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/browser"
)

// frontDoorSuite runs what every front door must do, against e with its
// front door running at e.front: the same answers as inline, the
// identity from the gateway and never from the client, a browser login
// that lands on the original URL on the front door's host, the same
// rate limits and audit events as inline, and no ambiguous path through.
func frontDoorSuite(t *testing.T, e *faEnv) {
	t.Run("no_credential", func(t *testing.T) { faNoCredential(t, e) })
	t.Run("api_key_identity", func(t *testing.T) { faIdentity(t, e) })
	t.Run("scope_of_the_original_method", func(t *testing.T) { faScope(t, e) })
	t.Run("forged_description", func(t *testing.T) { faForgedDescription(t, e) })
	t.Run("same_as_inline", func(t *testing.T) { faSameAsInline(t, e) })
	t.Run("path_corpus", func(t *testing.T) { faPathCorpus(t, e) })
	t.Run("browser_login", func(t *testing.T) { faBrowserLogin(t, e) })
}

// frontAddr is the front door's host:port.
func (e *faEnv) frontAddr() string { return strings.TrimPrefix(e.front, "http://") }

// send writes a raw request to the front door from faClientIP.
func (e *faEnv) send(t *testing.T, method, target string, headers [][2]string) rawResp {
	t.Helper()
	return rawSendFrom(t, faClientIP, e.frontAddr(), rawReq{method: method, target: target, host: e.frontAddr(), headers: headers}.String())
}

// sendInline writes the same request to the gateway's inline site.
func (e *faEnv) sendInline(t *testing.T, method, target string, headers [][2]string) rawResp {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", e.gw.Ports.HTTP)
	return rawSendFrom(t, faClientIP, addr, rawReq{method: method, target: target, host: fmt.Sprintf("inline.test:%d", e.gw.Ports.HTTP), headers: headers}.String())
}

func faNoCredential(t *testing.T, e *faEnv) {
	tag := newTag("fa-no-credential")
	resp := e.send(t, "GET", "/orders/1", hdrs(caseHeader, tag, "Accept", "application/json"))
	if resp.Status != 401 {
		t.Fatalf("no credential: %d, want 401; body %.300s", resp.Status, resp.Body)
	}
	if c := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="portcullis"`) {
		t.Errorf("the 401 carries no Bearer challenge: %q", c)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("the 401 carries no X-Request-Id")
	}
	checkNotForwarded(t, e.up, tag)
}

func faIdentity(t *testing.T, e *faEnv) {
	tag := newTag("fa-identity")
	forged := hdrs(caseHeader, tag, "Authorization", "Bearer "+e.key,
		"X-Auth-Subject", "admin", "x-auth-email", "forged@example.com", "X-Auth-Groups", "admins",
		"X-AUTH-SCOPES", "admin", "X_Auth_Subject", "admin", "X-Auth-Provider", "forged")
	resp := e.send(t, "GET", "/orders/1", forged)
	if resp.Status != 200 {
		t.Fatalf("with an API key: %d, want 200; body %.300s", resp.Status, resp.Body)
	}
	got, ok := forwardedOnce(t, e.up, tag, resp)
	if !ok {
		return
	}
	want := map[string]string{"X-Auth-Subject": "fa-client", "X-Auth-Method": "api_key", "X-Auth-Scopes": "orders:read"}
	for name, v := range want {
		if vs := got.Header.Values(name); len(vs) != 1 || vs[0] != v {
			t.Errorf("the upstream received %s %q, want exactly %q", name, vs, v)
		}
	}
	if got.Header.Get("X-Auth-Key-Id") == "" {
		t.Error("the upstream received no X-Auth-Key-Id")
	}
	raw := strings.ToLower(string(got.Raw))
	for _, forgery := range []string{"admin", "forged"} {
		if strings.Contains(raw, forgery) {
			t.Errorf("the upstream received the client's forged %q:\n%s", forgery, got.Raw)
		}
	}
	if strings.Contains(string(got.Raw), e.key) {
		t.Errorf("the upstream received the API key:\n%s", got.Raw)
	}
}

func faScope(t *testing.T, e *faEnv) {
	tag := newTag("fa-scope")
	resp := e.send(t, "POST", "/orders", hdrs(caseHeader, tag, "Authorization", "Bearer "+e.key, "Content-Type", "application/json"))
	if resp.Status != 403 {
		t.Fatalf("POST with an orders:read key: %d, want 403; body %.300s", resp.Status, resp.Body)
	}
	checkNotForwarded(t, e.up, tag)
}

// faForgedDescription: a client that describes another request than the
// one it sends (a public path for a protected one, another host, method
// or scheme) is judged on what it sends, or refused.
func faForgedDescription(t *testing.T, e *faEnv) {
	tag := newTag("fa-forged-description")
	resp := e.send(t, "GET", "/orders/1", hdrs(caseHeader, tag,
		"X-Forwarded-Uri", "/public/x", "X-Original-URI", "/public/x", "X-Forwarded-Method", "GET", "X-Original-Method", "GET",
		"X-Forwarded-Host", "inline.test", "X-Forwarded-Proto", "https"))
	if resp.Status == 200 || resp.Status < 400 {
		t.Fatalf("a forged description let the request through: %d %.300s", resp.Status, resp.Body)
	}
	t.Logf("a forged description: %d", resp.Status)
	checkNotForwarded(t, e.up, tag)
}

// faSameAsInline sends the same requests through the front door and to
// the inline site, and compares the answers and the audit events: the
// requests of each scenario carry a user agent naming the scenario and
// the door, and the two doors' events must be equal but for that, the
// request id and the rate-limit zone's name.
func faSameAsInline(t *testing.T, e *faEnv) {
	scenarios := []struct {
		name, method, target string
		key                  bool
		times                int
	}{
		{"allow", "GET", "/orders/1", true, 1},
		{"nocred", "GET", "/orders/1", false, 1},
		{"scope", "POST", "/orders", true, 1},
		{"limit", "GET", "/limited/x", true, 4},
	}
	for _, s := range scenarios {
		ua := fmt.Sprintf("fa-audit-%s-%d", s.name, e.frontPort)
		headers := func(door string) [][2]string {
			h := hdrs("User-Agent", ua+"-"+door, "Accept", "application/json")
			if s.key {
				h = append(h, [2]string{"Authorization", "Bearer " + e.key})
			}
			return h
		}
		var front, inline []string
		events := s.times // one decision event per request, and a rate_limited event per 429
		for range s.times {
			f := e.send(t, s.method, s.target, headers("front"))
			i := e.sendInline(t, s.method, s.target, headers("inline"))
			front = append(front, answerSummary(f))
			inline = append(inline, answerSummary(i))
			if i.Status == 429 {
				events++
			}
		}
		if !reflect.DeepEqual(front, inline) {
			t.Errorf("%s: the front door answered %v, inline %v", s.name, front, inline)
		}
		if s.name == "limit" && !strings.Contains(strings.Join(front, " "), "429") {
			t.Errorf("limit: %d requests against 2/1h, never 429: %v", s.times, front)
		}
		fa := auditEventsOf(t, e.audit, ua+"-front", events)
		in := auditEventsOf(t, e.audit, ua+"-inline", events)
		if !reflect.DeepEqual(fa, in) {
			t.Errorf("%s: the audit events differ\n  front door: %v\n  inline:     %v", s.name, fa, in)
		}
		t.Logf("%s: answers %v, events %v", s.name, front, fa)
	}
}

// answerSummary is an answer's status, and for a 429 whether it says
// when to retry.
func answerSummary(r rawResp) string {
	if r.Status == 429 {
		return "429 retry-after=" + strconv.FormatBool(r.Header.Get("Retry-After") != "")
	}
	return strconv.Itoa(r.Status)
}

// auditEventsOf waits for n audit events with user agent ua and returns
// them normalized (see normalizeEvent) and sorted.
func auditEventsOf(t *testing.T, file, ua string, n int) []string {
	t.Helper()
	var out []string
	waitFor(t, fmt.Sprintf("%d audit events of %s", n, ua), func() bool {
		out = out[:0]
		raw, _ := os.ReadFile(file)
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil && ev["user_agent"] == ua {
				out = append(out, normalizeEvent(ev))
			}
		}
		return len(out) >= n
	})
	sort.Strings(out)
	return out
}

// normalizeEvent is an audit event without what differs between two
// equal decisions at two doors: its time, request id, user agent and
// rate-limit zone, and the upstream's answer, which the inline gateway
// records and forward-auth never sees.
func normalizeEvent(ev map[string]any) string {
	c := map[string]any{}
	for k, v := range ev {
		switch k {
		case "ts", "request_id", "zone", "user_agent", "upstream_status", "upstream_ms":
			continue
		}
		c[k] = v
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// waitFor polls ok until it holds; the bound only catches a hung
// gateway.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func faPathCorpus(t *testing.T, e *faEnv) {
	for _, c := range pathCorpus() {
		t.Run(c.name, func(t *testing.T) {
			tag := newTag("fa-path-" + c.name)
			target := strings.ReplaceAll(c.target, "{host}", e.frontAddr())
			h := hdrs(caseHeader, tag)
			if c.kind == ordinary {
				h = append(h, [2]string{"Authorization", "Bearer " + e.key})
			}
			method := c.method
			if method == "" {
				method = "GET"
			}
			resp := e.send(t, method, target, h)
			got := e.up.tagged(tag)
			switch c.kind {
			case strict400, beyond400:
				if resp.Status < 400 || resp.Status > 499 {
					t.Errorf("%s %q: %d, want a 4xx refusal", method, target, resp.Status)
				}
				checkNotForwarded(t, e.up, tag)
			case ordinary:
				if resp.Status != 200 {
					t.Fatalf("an unambiguous path is refused: %d %.300s", resp.Status, resp.Body)
				}
				if g, ok := forwardedOnce(t, e.up, tag, resp); ok && g.RequestURI != target {
					t.Errorf("the upstream received %q, want %q as sent", g.RequestURI, target)
				}
			case document:
				t.Logf("%s %q: %d, reached the upstream %d times %v", method, target, resp.Status, len(got), uris(got))
			}
			for _, g := range got {
				if v := upstreamReading(g.RequestURI); g.Header.Get("X-Auth-Subject") == "" && protected("anon", v) {
					t.Errorf("reached the upstream without credentials as %q, which a lenient server reads as %q", g.RequestURI, v)
				}
			}
		})
	}
}

// faBrowserLogin: a browser opens a protected page through the front
// door, logs in at the provider (through the gateway's login endpoints,
// which the front door passes on), and lands on the original URL on the
// front door's host, where the upstream sees its identity.
func faBrowserLogin(t *testing.T, e *faEnv) {
	b := browser.New(t)
	target := e.front + "/app/page?x=1&y=%2Fz"
	b.Navigate(target)
	b.WaitURL(e.idp.Issuer() + "/")
	b.Login(alice.Username, alice.Password)
	if got := b.WaitURLFunc("the original page", func(u string) bool { return u == target }); got != target {
		t.Fatalf("landed on %s, want %s", got, target)
	}
	u, _ := url.Parse(target)
	var seen bool
	for _, r := range e.up.tagged("") {
		if r.RequestURI == u.RequestURI() && r.Header.Get("X-Auth-Subject") == alice.ID && r.Header.Get("X-Auth-Method") == "session" {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("the upstream never received %s as %s with a session", u.RequestURI(), alice.ID)
	}
	// The session works for the next page too, without a login.
	b.Navigate(e.front + "/app/other")
	if got := b.CurrentURL(); got != e.front+"/app/other" {
		t.Fatalf("with a session, /app/other went to %s", got)
	}
}
