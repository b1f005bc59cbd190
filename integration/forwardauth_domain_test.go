package integration_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// faDomain is the session domain of TestForwardAuthSessionDomain; its
// hosts resolve to 127.0.0.1 (Chromium: --host-resolver-rules; the Go
// client: its dialer).
const faDomain = "fa-domain.test"

// TestForwardAuthSessionDomain: with a session domain, nginx on
// app.<domain> sends a browser without a session to the auth host's
// login with return_to the original absolute URL (the host and port the
// browser used, from nginx's X-Forwarded-Host); after the login at the
// provider, the browser lands on that URL, where the domain's session
// cookie lets it through.
func TestForwardAuthSessionDomain(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, nil)
	up := startRecorder(t)
	e := &faEnv{up: up}
	gw := harness.StartGateway(t, func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	servers {
		trusted_proxies static 127.0.0.1/32
	}
	portcullis {
		store memory
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
			domain %s
		}
		oidc %s {
			client_id %s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://auth.%s:%d/.portcullis/callback
			scopes openid email profile
		}
	}
}

http://:%d {
	portcullis_forward_auth {
		policy app.%s /app/* {
			route browser
		}
	}
}
`, p.Global(), faDomain, idp.Issuer(), ssoClientID, faDomain, p.HTTP, p.HTTP, faDomain)
	}, ssoEnv...)
	e.gw = gw
	authOrigin := fmt.Sprintf("http://auth.%s:%d", faDomain, gw.Ports.HTTP)
	idp.AddClient(oidcprovider.Client{ID: ssoClientID, Secret: ssoClientSecret, RedirectURIs: []string{authOrigin + "/.portcullis/callback"}})
	for attempt := 1; ; attempt++ {
		e.frontPort = harness.FreePort(t)
		err := startNginx(t, e.frontPort, nginxFrontConfig(t, e))
		if err == nil {
			break
		}
		if !errors.Is(err, errFrontPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("%v; starting nginx again on another port", err)
	}
	target := fmt.Sprintf("http://app.%s:%d/app/page?x=1&y=%%2Fz", faDomain, e.frontPort)

	// What nginx answers a browser without a session: the auth host's
	// login, returning to the original absolute URL.
	client := &http.Client{
		Timeout: 30 * time.Second, // "hung", not "slow"
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, _ := http.NewRequest("GET", target, nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc == nil || !strings.HasPrefix(loc.String(), authOrigin+"/.portcullis/login?") || loc.Query().Get("return_to") != target {
		t.Fatalf("a browser without a session: %d to %q, want the auth host's login returning to %s", resp.StatusCode, resp.Header.Get("Location"), target)
	}

	b := newFADomainBrowser(t)
	b.navigate(target)
	b.waitURL("the provider's login page", func(u string) bool { return strings.HasPrefix(u, idp.Issuer()+"/") })
	b.login(alice.Username, alice.Password)
	b.waitURL("the original page", func(u string) bool { return u == target })
	u, _ := url.Parse(target)
	var seen bool
	for _, r := range up.tagged("") {
		if r.RequestURI == u.RequestURI() && r.Header.Get("X-Auth-Subject") == alice.ID {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("the upstream never received %s as %s", u.RequestURI(), alice.ID)
	}
}

// faDomainBrowser is a headless Chromium started as the browser package
// starts it, plus --host-resolver-rules for the session domain's hosts
// (which browser.New cannot add).
type faDomainBrowser struct {
	t   *testing.T
	ctx context.Context
}

func newFADomainBrowser(t *testing.T) *faDomainBrowser {
	t.Helper()
	if _, err := os.Stat(browser.ExecPath); err != nil {
		t.Fatalf("Chromium is required at %s: %v", browser.ExecPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser.ExecPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP *."+faDomain+" 127.0.0.1"),
		chromedp.Flag("disable-features", "HttpsUpgrades"),
	}
	for _, f := range browser.Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = chromedp.Cancel(c)
		cancelTab()
		cancelAlloc()
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting Chromium: %v", err)
		}
	case <-time.After(60 * time.Second): // "hung", not "slow"
		t.Fatal("starting Chromium: no DevTools connection after 60s")
	}
	return &faDomainBrowser{t: t, ctx: ctx}
}

// run runs f bounded by browser.DefaultTimeout, failing the test with what.
func (b *faDomainBrowser) run(what string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browser.DefaultTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

func (b *faDomainBrowser) navigate(u string) {
	b.t.Helper()
	b.run("navigating to "+u, func(ctx context.Context) error { return chromedp.Do(ctx, chromedp.Navigate(u)) })
}

func (b *faDomainBrowser) waitURL(what string, ok func(string) bool) {
	b.t.Helper()
	b.run("waiting for "+what, func(ctx context.Context) error {
		var last string
		for {
			if u, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
				if last = u; ok(u) {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return errors.New("last URL " + last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func (b *faDomainBrowser) login(user, pass string) {
	b.t.Helper()
	b.run("logging in at the provider", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SetValue(chromedp.CSS("#username"), user),
			chromedp.SetValue(chromedp.CSS("#password"), pass),
			chromedp.Click(chromedp.CSS("#login")))
	})
}
