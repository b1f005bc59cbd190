package integration_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"
	"golang.org/x/net/html"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSODomainProviderChooser: in Chromium, the chooser is used with
// the keyboard alone to pick the second provider; the upstream sees
// X-Auth-Provider and the namespaced subject; a route pinned to the
// first provider refuses that session (403, audit reason
// provider_not_accepted); a login at the first provider, with the same
// `sub`, is another subject, which the pinned route accepts.
func TestSSODomainProviderChooser(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{sessionExtra: "remember_me 30d"})
	gw := e.gw()
	b := newHostBrowser(t)

	target := e.url(gw, "app", "/orders?id=7")
	b.navigate(target)
	b.waitPrefix(e.url(gw, "auth", "/.portcullis/login?"))
	// Tab from the top of the page to the contractors' button, passing the
	// staff one, then Enter.
	var focused []string
	for range 10 {
		b.press(kb.Tab)
		f := eval[string](b, `(e => e ? e.tagName + " " + (e.getAttribute("name") || "") + "=" + (e.getAttribute("value") || "") : "")(document.activeElement)`)
		focused = append(focused, f)
		if f == "BUTTON provider="+contractorIdP {
			break
		}
	}
	if len(focused) < 2 || focused[len(focused)-1] != "BUTTON provider="+contractorIdP || !slices.Contains(focused, "BUTTON provider="+staffIdP) {
		t.Fatalf("the keyboard does not reach both providers; focus went %q", focused)
	}
	b.press(kb.Enter)
	b.waitPrefix(e.contractors.Issuer() + oidcprovider.PathLogin)
	b.signIn(contractorAlice.Username, contractorAlice.Password)
	b.waitAt(target)
	wantIdentity(t, "after choosing the contractors' provider", b.echo(), contractorIdP, contractorAlice, e.contractors.Issuer())
	ck, ok := b.cookie(e.cookieName)
	if !ok {
		t.Fatal("no session cookie")
	}
	if code, w := e.whoami(t, gw, "app", ck.Value); code != http.StatusOK || w.Provider != contractorIdP || w.Subject != contractorIdP+":alice" || w.Remembered {
		t.Fatalf("whoami: %d %+v", code, w)
	}

	// The route pinned to the staff provider refuses the session, to an
	// API client and to the browser.
	resp, _ := e.do(t, "GET", e.url(gw, "api", "/staff/report"), ck.Value, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("pinned route with a contractors' session: %d, want 403", resp.StatusCode)
	}
	if r := auditReason(t, gw, "decision", resp.Header.Get("X-Request-Id")); r != "provider_not_accepted" {
		t.Errorf("audit reason %q, want provider_not_accepted", r)
	}
	if status := b.navigate(e.url(gw, "app", "/staff/report")); status != http.StatusForbidden {
		t.Errorf("the browser got %d on the pinned route, want 403", status)
	}
	if strings.Contains(b.quickText(), "X-Auth-Subject") {
		t.Errorf("the pinned route forwarded the contractors' session: %s", b.quickText())
	}

	// Without a session, the pinned route goes straight to its provider,
	// never to the chooser.
	a := newDomainAgent(t, e)
	_, body := a.login(e.url(gw, "api", "/staff/summary"), staffAlice.Username, staffAlice.Password)
	if refresh, _, _ := landingTargets(parsePage(t, body)); refresh != e.url(gw, "api", "/staff/summary") {
		t.Errorf("the pinned route's login continues to %q", refresh)
	}
	for _, hop := range a.hops {
		if strings.HasPrefix(hop, e.contractors.Issuer()) {
			t.Errorf("the pinned route's login went to the other provider: %q", a.hops)
		}
	}

	// The staff provider's alice is someone else, and the pinned route
	// takes her.
	pinned := e.url(gw, "app", "/staff/report")
	b.navigate(e.url(gw, "auth", "/.portcullis/login?provider="+staffIdP+"&return_to="+url.QueryEscape(pinned)))
	b.waitPrefix(e.staff.Issuer() + oidcprovider.PathLogin)
	b.signIn(staffAlice.Username, staffAlice.Password)
	b.waitAt(pinned)
	wantIdentity(t, "the pinned route after a staff login", b.echo(), staffIdP, staffAlice, e.staff.Issuer())
}

// TestSSODomainEmailDomains: a login_hint in a provider's email_domains
// goes to that provider without the chooser (redirect by redirect, and
// to the end in Chromium); other addresses get the chooser.
func TestSSODomainEmailDomains(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{})
	gw := e.gw()

	loginURL := func(hint string) string {
		return e.url(gw, "app", "/.portcullis/login?login_hint="+url.QueryEscape(hint)+"&return_to=/")
	}
	for _, tt := range []struct {
		name, hint string
		chooser    bool
	}{
		{name: "routed", hint: "bob@" + contractorEmailDomain},
		{name: "routed, upper case", hint: "bob@CONTRACTOR.example"},
		{name: "other domain", hint: "carol@elsewhere.example", chooser: true},
		{name: "subdomain", hint: "bob@evil." + contractorEmailDomain, chooser: true},
		{name: "suffix", hint: "bob@" + contractorEmailDomain + ".evil.net", chooser: true},
		{name: "look-alike", hint: "bob@x" + contractorEmailDomain, chooser: true},
		{name: "no address", hint: contractorEmailDomain, chooser: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newDomainAgent(t, e)
			resp, body := a.navigate(loginURL(tt.hint))
			doc := parsePage(t, body)
			providers := chooserProviders(doc)
			if tt.chooser {
				if resp.Request.URL.Host != "auth."+domainName+":"+portOf(gw) || len(providers) != 2 {
					t.Fatalf("hint %q: want the chooser on the auth host, got %d at %s (hops %q)", tt.hint, resp.StatusCode, resp.Request.URL, a.hops)
				}
				return
			}
			if len(providers) > 0 {
				t.Fatalf("hint %q: the chooser was shown (hops %q)", tt.hint, a.hops)
			}
			// Every hop: the login on app, the login on auth, the
			// contractors' provider; never a page of the gateway.
			if len(a.hops) < 3 || !strings.HasPrefix(a.hops[1], e.url(gw, "auth", "/.portcullis/login?")) ||
				!strings.HasPrefix(a.hops[2], e.contractors.AuthorizationURL()+"?") {
				t.Fatalf("hint %q: redirects %q, want app login, auth login, the contractors' provider", tt.hint, a.hops)
			}
			if loginForm(doc) == nil || !strings.HasPrefix(resp.Request.URL.String(), e.contractors.LoginURL()) {
				t.Fatalf("hint %q: ended at %s, not the contractors' login page", tt.hint, resp.Request.URL)
			}
		})
	}

	t.Run("browser", func(t *testing.T) {
		t.Parallel()
		b := newHostBrowser(t)
		b.navigate(loginURL("bob@" + contractorEmailDomain))
		b.waitPrefix(e.contractors.Issuer() + oidcprovider.PathLogin)
		b.signIn(contractorBob.Username, contractorBob.Password)
		b.waitAt(e.url(gw, "app", "/"))
		wantIdentity(t, "after the routed login", b.echo(), contractorIdP, contractorBob, e.contractors.Issuer())
	})
}

// chooserProviders returns the elements of a chooser page that start a
// login with a provider: buttons named provider, and links whose query
// names one.
func chooserProviders(doc *html.Node) []*html.Node {
	var out []*html.Node
	for _, n := range elementsOf(doc, "") {
		switch n.Data {
		case "button":
			if attrOf(n, "name") == "provider" && attrOf(n, "value") != "" {
				out = append(out, n)
			}
		case "a":
			if u, err := url.Parse(attrOf(n, "href")); err == nil && u.Query().Get("provider") != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// portOf is the HTTP port of gw, as text.
func portOf(gw *harness.Gateway) string { return strconv.Itoa(gw.Ports.HTTP) }
