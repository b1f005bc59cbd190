package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/integration/browser"
)

// hostResolverRules sends every host of the session domain to the
// gateway's loopback address; the providers' IP literals are untouched.
const hostResolverRules = "MAP *." + domainName + " 127.0.0.1"

// hostBrowser is a headless Chromium started like the browser package's
// (its executable, its flags, a fresh profile) plus
// --host-resolver-rules, which browser.New cannot add. Its helpers fail
// the test after browser.DefaultTimeout, naming what they waited for and
// where; call them from the test's goroutine.
type hostBrowser struct {
	t   *testing.T
	ctx context.Context
	out *domainSyncBuffer
}

// newHostBrowser starts Chromium for the test and stops it at cleanup.
func newHostBrowser(t *testing.T) *hostBrowser {
	t.Helper()
	if _, err := os.Stat(browser.ExecPath); err != nil {
		t.Fatalf("Chromium is required at %s: %v", browser.ExecPath, err)
	}
	out := &domainSyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser.ExecPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(out),
		chromedp.Flag("host-resolver-rules", hostResolverRules),
		// http:// stays http:// for the test hosts (no HTTPS-upgrade
		// attempt), and the gateway's self-signed certificate is accepted.
		chromedp.Flag("disable-features", "HttpsUpgrades"),
		chromedp.Flag("ignore-certificate-errors", true),
	}
	for _, f := range browser.Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := chromedp.Cancel(c); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("closing Chromium: %v", err)
			}
			cancelTab()
			cancelAlloc() // waits for the process to exit
		})
	}
	t.Cleanup(stop)
	// The first run starts the browser and binds it to ctx: no timeout
	// on ctx itself, a bound from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			stop()
			t.Fatalf("starting Chromium: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		stop()
		t.Fatalf("starting Chromium: no DevTools connection after 60s\n%s", out.String())
	}
	return &hostBrowser{t: t, ctx: ctx, out: out}
}

// run runs f bounded by browser.DefaultTimeout and fails the test with
// what when it fails.
func (b *hostBrowser) run(what string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browser.DefaultTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		b.t.Fatalf("browser: %s (at %s): %v", what, b.location(), err)
	}
}

// location is the current URL, for messages.
func (b *hostBrowser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "<unknown: " + err.Error() + ">"
	}
	return u
}

// navigate loads u (after redirects) and returns the status of the page
// it ends on.
func (b *hostBrowser) navigate(u string) int64 {
	b.t.Helper()
	var status int64
	b.run("navigating to "+u, func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
		if resp != nil {
			status = resp.Status
		}
		return err
	})
	return status
}

// waitURL waits until ok accepts the current URL and returns it.
func (b *hostBrowser) waitURL(what string, ok func(u string) bool) string {
	b.t.Helper()
	var last string
	b.run("waiting for "+what, func(ctx context.Context) error {
		for {
			if u, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
				if last = u; ok(u) {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return errors.New("last URL " + last + "; page text: " + b.quickText())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return last
}

// waitAt waits until the current URL is u exactly.
func (b *hostBrowser) waitAt(u string) {
	b.t.Helper()
	b.waitURL(u, func(got string) bool { return got == u })
}

// waitPrefix waits until the current URL starts with prefix.
func (b *hostBrowser) waitPrefix(prefix string) string {
	b.t.Helper()
	return b.waitURL("a URL starting with "+prefix, func(got string) bool { return strings.HasPrefix(got, prefix) })
}

// quickText is the page text for failure messages.
func (b *hostBrowser) quickText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// eval evaluates a JavaScript expression (DevTools, not the page's
// script: the gateway's pages allow none) and returns its value.
func eval[T any](b *hostBrowser, expr string) T {
	b.t.Helper()
	var v T
	b.run("evaluating "+expr, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return v
}

// echo returns the upstream's echo of the request headers, the page
// shown now.
func (b *hostBrowser) echo() map[string][]string {
	b.t.Helper()
	text := eval[string](b, `(document.querySelector("body > pre") || document.body).innerText`)
	var h map[string][]string
	if err := json.Unmarshal([]byte(text), &h); err != nil {
		b.t.Fatalf("the page at %s is not the upstream's echo: %v\n%s", b.location(), err, text)
	}
	return h
}

// click waits for the element matching the CSS selector and clicks it.
func (b *hostBrowser) click(selector string) {
	b.t.Helper()
	b.run("clicking "+selector, func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector)), chromedp.Click(chromedp.CSS(selector)))
	})
}

// press sends key presses to the focused element (kb constants or text).
func (b *hostBrowser) press(keys string) {
	b.t.Helper()
	b.run("pressing keys", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.KeyEvent(keys))
	})
}

// signIn fills the test provider's login form and submits it.
func (b *hostBrowser) signIn(username, password string) {
	b.t.Helper()
	b.run("signing in at the provider", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SetValue(chromedp.CSS("#username"), username),
			chromedp.SetValue(chromedp.CSS("#password"), password),
			chromedp.Click(chromedp.CSS("#login")),
		)
	})
}

// cookie returns the cookie of that name in the browser's jar.
func (b *hostBrowser) cookie(name string) (*network.Cookie, bool) {
	b.t.Helper()
	var found *network.Cookie
	b.run("reading cookies", func(ctx context.Context) error {
		res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			if c.Name == name {
				found = c
			}
		}
		return nil
	})
	return found, found != nil
}

// domainSyncBuffer collects Chromium's output for failure messages.
type domainSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *domainSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *domainSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
