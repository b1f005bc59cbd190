package integration_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestSSODomainReturnTo: after a real login, the landing page continues
// to return_to only when it is a path or an http(s) URL on a host of the
// session domain written plainly; every other form (other domains,
// look-alike suffixes, userinfo, IDN, scheme-relative and backslashed
// paths, encoded authorities, plain http under secure cookies) lands on
// "/". Both the meta refresh and
// the link of the landing page are read (parsed HTML), and the chooser's
// hidden return_to field, which the same policy fills.
func TestSSODomainReturnTo(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{})
	gw := e.gw()
	port := strconv.Itoa(gw.Ports.HTTP)
	expand := strings.NewReplacer("PORT", port, "SCHEME", e.scheme).Replace
	a := newDomainAgent(t, e)
	// A first login with the password; the provider then signs the
	// agent in silently.
	a.login(e.url(gw, "auth", "/.portcullis/login?provider="+staffIdP+"&return_to=/"), staffAlice.Username, staffAlice.Password)

	refused := []string{
		"https://evil.test/", "http://evil.test/", "http://evil.test:PORT/",
		"https://example.test.evil.net/", "http://example.test.evil.net:PORT/", "https://app.example.test.evil.net/",
		"https://evilexample.test/", "http://evilexample.test:PORT/", "https://app-example.test/",
		"https://user@app.example.test/", "http://user:pass@app.example.test:PORT/", "https://@app.example.test/",
		"https://app.example.test@evil.test/", "http://app.example.test:PORT@evil.test/",
		"https://\u0430pp.example.test/", "https://app.ex\u0430mple.test/", "https://evil.test\u3002example.test/",
		"https://evil.test\uff0fexample.test/", "https://b\u00fccher.example.test/", "https://xn--80ak6aa92e.com/",
		"https://APP.EXAMPLE.TEST/", "https://app.example.test./", "https://.example.test/",
		"//evil.test", "//evil.test/", "///evil.test", "/\\evil.test", "\\\\evil.test", "/%5Cevil.test", "/%2F%2Fevil.test",
		"https://evil.test#.example.test", "https://evil.test?.example.test", "https://evil.test\\.example.test/",
		"https://evil.test%2F.example.test/", "https://evil.test%2eexample.test/", "https://app.example.test%2F@evil.test/",
		"SCHEME://app.example.test:PORT//evil.test", "SCHEME://app.example.test:PORT/%2F%2Fevil.test", "SCHEME://app.example.test:0PORT/",
		"http://app.example.test:PORT/downgrade", // plain http under secure cookies
		"javascript://app.example.test/%0Aalert(1)", "ftp://app.example.test/", "https:app.example.test/x", "https:/app.example.test/x",
		"http://127.0.0.1:PORT/", "HTTPS://app.example.test/", " https://app.example.test/",
	}
	type returnCase struct {
		host, returnTo, want string
	}
	var cases []returnCase
	for _, r := range refused {
		cases = append(cases, returnCase{"auth", r, "/"})
	}
	for _, r := range []string{"//evil.test", "/\\evil.test", "/%2F%2Fevil.test", "https://evil.test/", "https://evilexample.test/"} {
		cases = append(cases, returnCase{"app", r, "/"})
	}
	cases = append(cases,
		returnCase{"auth", "/orders/7?tab=items", "/orders/7?tab=items"},
		returnCase{"auth", "SCHEME://app.example.test:PORT/orders?x=1&y=%2F", "SCHEME://app.example.test:PORT/orders?x=1&y=%2F"},
		returnCase{"auth", "SCHEME://api.example.test:PORT/v1", "SCHEME://api.example.test:PORT/v1"},
		returnCase{"auth", "https://app.example.test/secure#part", "https://app.example.test/secure#part"},
		returnCase{"auth", "SCHEME://example.test:PORT/", "SCHEME://example.test:PORT/"},
		returnCase{"auth", "SCHEME://deep.app.example.test:PORT/x", "SCHEME://deep.app.example.test:PORT/x"},
		returnCase{"auth", "https://xn--bcher-kva.example.test/", "https://xn--bcher-kva.example.test/"},
		returnCase{"app", "/orders/7", "SCHEME://app.example.test:PORT/orders/7"},
		returnCase{"api", "/v1/x?q=1", "SCHEME://api.example.test:PORT/v1/x?q=1"},
	)
	for _, c := range cases {
		returnTo, want := expand(c.returnTo), expand(c.want)
		t.Run(c.host+" "+returnTo, func(t *testing.T) {
			q := "/.portcullis/login?return_to=" + url.QueryEscape(returnTo)
			// The chooser carries the return URL on.
			resp, body := a.navigate(e.url(gw, c.host, q))
			var hidden []string
			for _, in := range elementsOf(parsePage(t, body), "input") {
				if attrOf(in, "name") == "return_to" {
					hidden = append(hidden, attrOf(in, "value"))
				}
			}
			if len(hidden) != 1 || hidden[0] != want {
				t.Errorf("chooser (%d at %s): return_to fields %q, want %q", resp.StatusCode, resp.Request.URL, hidden, want)
			}
			// A login with a provider lands on it.
			resp, body = a.login(e.url(gw, c.host, q+"&provider="+staffIdP), staffAlice.Username, staffAlice.Password)
			refresh, link, ok := landingTargets(parsePage(t, body))
			if !ok {
				t.Fatalf("no landing page after the login (%d at %s):\n%s", resp.StatusCode, resp.Request.URL, body)
			}
			if got := resp.Request.URL.Host; got != "auth."+domainName+":"+port {
				t.Errorf("the landing page is on %s, want the auth host", got)
			}
			if refresh != want || link != want {
				t.Errorf("the landing page continues to %q (refresh) and %q (link), want %q", refresh, link, want)
			}
		})
	}

	// The allowed URLs on the gateway's hosts open with the session.
	for _, u := range []string{"SCHEME://app.example.test:PORT/orders?x=1&y=%2F", "SCHEME://api.example.test:PORT/v1"} {
		u = expand(u)
		resp, body := a.navigate(u)
		var echo map[string][]string
		if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != u || json.Unmarshal([]byte(body), &echo) != nil {
			t.Fatalf("%s after the login: %d at %s\n%s", u, resp.StatusCode, resp.Request.URL, body)
		}
		wantIdentity(t, u, echo, staffIdP, staffAlice, e.staff.Issuer())
	}
}
