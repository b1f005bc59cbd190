package integration_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// domainAgent is a browser stand-in for the hosts of the session domain:
// an HTTP client with a cookie jar (which, like a browser, keeps the
// domain cookie for every host of the domain) that records the URLs each
// navigation went through. harness.Agent cannot dial the domain's hosts.
type domainAgent struct {
	t    *testing.T
	e    *domainEnv
	c    *http.Client
	hops []string // the URLs of the last navigation, in order
}

func newDomainAgent(t *testing.T, e *domainEnv) *domainAgent {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := e.transport()
	t.Cleanup(tr.CloseIdleConnections)
	a := &domainAgent{t: t, e: e}
	a.c = &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			a.hops = append(a.hops, req.URL.String())
			if len(via) >= 20 {
				return errors.New("more than 20 redirects")
			}
			return nil
		}}
	return a
}

// navigate GETs u as a top-level browser navigation, following
// redirects, and returns the last response and its body.
func (a *domainAgent) navigate(u string) (*http.Response, string) {
	a.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	a.hops = []string{u}
	return a.do(req)
}

func (a *domainAgent) do(req *http.Request) (*http.Response, string) {
	a.t.Helper()
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// login navigates to u, follows the gateway's page that continues to
// the provider (a login that names its provider answers with one) and,
// if the provider asks, signs in as user/password on its form; it
// returns the last response and page, which must be the gateway's
// landing page.
func (a *domainAgent) login(u, user, password string) (*http.Response, string) {
	a.t.Helper()
	resp, body := a.navigate(u)
	if strings.HasSuffix(resp.Request.URL.Path, "/.portcullis/login") {
		next, link, ok := landingTargets(parsePage(a.t, body))
		if !ok || next != link {
			a.t.Fatalf("login at %s: the login endpoint answered neither a redirect nor a page continuing to the provider (%d at %s):\n%s", u, resp.StatusCode, resp.Request.URL, body)
		}
		hops := a.hops
		resp, body = a.navigate(next)
		a.hops = append(hops, a.hops...)
	}
	if form := loginForm(parsePage(a.t, body)); form != nil {
		action, err := resp.Request.URL.Parse(attrOf(form, "action"))
		if err != nil {
			a.t.Fatal(err)
		}
		vals := url.Values{"username": {user}, "password": {password}}
		for _, in := range elementsOf(form, "input") {
			if attrOf(in, "type") == "hidden" {
				vals.Set(attrOf(in, "name"), attrOf(in, "value"))
			}
		}
		req, err := http.NewRequest("POST", action.String(), strings.NewReader(vals.Encode()))
		if err != nil {
			a.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body = a.do(req)
	}
	if _, _, ok := landingTargets(parsePage(a.t, body)); !ok || !strings.HasSuffix(resp.Request.URL.Path, "/.portcullis/callback") {
		a.t.Fatalf("login at %s: no landing page (%d at %s):\n%s", u, resp.StatusCode, resp.Request.URL, body)
	}
	return resp, body
}

// sessionCookie returns the session cookie the agent sends to u.
func (a *domainAgent) sessionCookie(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, c := range a.c.Jar.Cookies(pu) {
		if c.Name == a.e.cookieName {
			return c.Value
		}
	}
	return ""
}

// parsePage parses an HTML document.
func parsePage(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing HTML: %v\n%s", err, body)
	}
	return doc
}

// elementsOf returns the elements named tag ("" for all) under n, in
// document order.
func elementsOf(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (tag == "" || d.Data == tag) {
			out = append(out, d)
		}
	}
	return out
}

// attrOf returns the value of attribute key of n ("" when absent).
func attrOf(n *html.Node, key string) string {
	v, _ := lookupAttr(n, key)
	return v
}

// lookupAttr returns the value of attribute key of n, and whether n has it.
func lookupAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// textOf returns the text under n.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// loginForm returns the test provider's login form in doc, or nil.
func loginForm(doc *html.Node) *html.Node {
	for _, f := range elementsOf(doc, "form") {
		if attrOf(f, "id") == "login-form" {
			return f
		}
	}
	return nil
}

// landingTargets returns where the gateway's landing page continues: the
// URL of its meta refresh and of its link (each must be there; ok is
// false when doc is not a landing page).
func landingTargets(doc *html.Node) (refresh, link string, ok bool) {
	var refreshes, links []string
	for _, m := range elementsOf(doc, "meta") {
		if strings.EqualFold(attrOf(m, "http-equiv"), "refresh") {
			refreshes = append(refreshes, refreshURL(attrOf(m, "content")))
		}
	}
	for _, a := range elementsOf(doc, "a") {
		if href, has := lookupAttr(a, "href"); has {
			links = append(links, href)
		}
	}
	if len(refreshes) != 1 || len(links) != 1 {
		return "", "", false
	}
	return refreshes[0], links[0], true
}

// refreshURL returns the URL of a meta refresh's content as browsers read
// it (HTML, "shared declarative refresh steps"): after the delay and a
// ';' or ',', an optional "url=", then the URL, unquoted if quoted.
func refreshURL(content string) string {
	s := strings.TrimLeft(content, " \t\n\f\r")
	s = strings.TrimLeft(s, "0123456789.")
	s = strings.TrimLeft(s, " \t\n\f\r")
	if s != "" && (s[0] == ';' || s[0] == ',') {
		s = s[1:]
	}
	s = strings.TrimLeft(s, " \t\n\f\r")
	if len(s) >= 3 && strings.EqualFold(s[:3], "url") {
		if rest := strings.TrimLeft(s[3:], " \t\n\f\r"); strings.HasPrefix(rest, "=") {
			s = strings.TrimLeft(rest[1:], " \t\n\f\r")
		}
	}
	if s != "" && (s[0] == '\'' || s[0] == '"') {
		if end := strings.IndexByte(s[1:], s[0]); end >= 0 {
			return s[1 : 1+end]
		}
		return s[1:]
	}
	return strings.TrimRight(s, " \t\n\f\r")
}
