package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// urlPollInterval is how often WaitURL looks at the address bar.
const urlPollInterval = 50 * time.Millisecond

// run runs f with a context bounded by b.Timeout and fails the test with a
// message naming what was being done when f fails.
func (b *Browser) run(what string, f func(ctx context.Context) error) {
	b.t.Helper()
	if err := b.try(f); err != nil {
		b.t.Fatalf("browser: %s (current URL %s): %v", what, b.location(), err)
	}
}

// try runs f with a context bounded by b.Timeout.
func (b *Browser) try(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	return f(ctx)
}

// location returns the current URL for error messages, or a placeholder.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "<unknown: " + err.Error() + ">"
	}
	return u
}

// Navigate loads url and waits for the page (after any redirects) to load.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.run("navigating to "+url, func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Navigate(url))
	})
}

// CurrentURL returns the URL of the page shown now. A read that meets a
// navigation being committed ("Inspected target navigated or closed")
// is read again: the page was only changing.
func (b *Browser) CurrentURL() string {
	b.t.Helper()
	var u string
	read := func(ctx context.Context) (err error) {
		u, err = chromedp.Run(ctx, chromedp.Location())
		return err
	}
	for i := 0; ; i++ {
		err := b.try(read)
		if err == nil {
			return u
		}
		if !navigating(err) || i == maxNavigatingReads {
			b.t.Fatalf("browser: reading the current URL (current URL %s): %v", b.location(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxNavigatingReads bounds how often CurrentURL reads again a location
// that a navigation interrupted.
const maxNavigatingReads = 50

// navigating reports whether err is Chromium's answer to a command sent
// to a page while it navigates away.
func navigating(err error) bool {
	return strings.Contains(err.Error(), "navigated or closed")
}

// WaitURL waits until the current URL starts with prefix and returns it.
func (b *Browser) WaitURL(prefix string) string {
	b.t.Helper()
	return b.WaitURLFunc("a URL starting with "+prefix, func(u string) bool {
		return strings.HasPrefix(u, prefix)
	})
}

// WaitURLFunc waits until ok accepts the current URL and returns it; what
// describes the awaited URL in the failure message.
func (b *Browser) WaitURLFunc(what string, ok func(url string) bool) string {
	b.t.Helper()
	var last string
	err := b.try(func(ctx context.Context) error {
		for {
			u, err := chromedp.Run(ctx, chromedp.Location())
			if err == nil {
				last = u
				if ok(u) {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(urlPollInterval):
			}
		}
	})
	if err != nil {
		b.t.Fatalf("browser: waiting for %s (last URL %s; page text %q): %v", what, last, b.bodyTextQuick(), err)
	}
	return last
}

// WaitVisible waits until the element matching the CSS selector is visible.
func (b *Browser) WaitVisible(selector string) {
	b.t.Helper()
	b.run("waiting for "+selector+" to be visible", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector)))
	})
}

// Text waits for the element matching the CSS selector to be visible and
// returns its text.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	var s string
	b.run("reading the text of "+selector, func(ctx context.Context) (err error) {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
			return err
		}
		s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
		return err
	})
	return s
}

// BodyText returns the text of the page's body.
func (b *Browser) BodyText() string {
	b.t.Helper()
	return b.Text("body")
}

// bodyTextQuick returns the body text for failure messages, or "".
func (b *Browser) bodyTextQuick() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// HTML returns the page's outer HTML.
func (b *Browser) HTML() string {
	b.t.Helper()
	var s string
	b.run("reading the page HTML", func(ctx context.Context) (err error) {
		s, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		return err
	})
	return s
}

// Has reports, without waiting, whether an element matches the CSS selector.
func (b *Browser) Has(selector string) bool {
	b.t.Helper()
	quoted, err := json.Marshal(selector)
	if err != nil {
		b.t.Fatalf("browser: quoting selector %q: %v", selector, err)
	}
	var found bool
	b.run("looking for "+selector, func(ctx context.Context) (err error) {
		found, err = chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%s) !== null`, quoted)))
		return err
	})
	return found
}

// Fill waits for the input matching the CSS selector and sets its value
// (the DOM value, as a form submission reads it; no key events are sent).
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	b.run("filling "+selector, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS(selector)),
			chromedp.SetValue(chromedp.CSS(selector), value),
		)
	})
}

// Click waits for the element matching the CSS selector and clicks it. It
// does not wait for a navigation the click may start; follow it with WaitURL
// or WaitVisible.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.run("clicking "+selector, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS(selector)),
			chromedp.Click(chromedp.CSS(selector)),
		)
	})
}

// Login fills the oidcprovider login form (#username, #password) on the
// current page and clicks #login. It waits for the form, not for what
// follows: use WaitURL for the redirect back, or WaitVisible("#error").
func (b *Browser) Login(username, password string) {
	b.t.Helper()
	b.Fill("#username", username)
	b.Fill("#password", password)
	b.Click("#login")
}

// Screenshot returns a PNG of the whole page, for debugging.
func (b *Browser) Screenshot() []byte {
	b.t.Helper()
	var png []byte
	b.run("taking a screenshot", func(ctx context.Context) (err error) {
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	})
	return png
}
