package browser

import (
	"context"
	"math"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// Cookie is a cookie in the browser's jar, as Chromium reports it.
type Cookie struct {
	Name, Value  string
	Domain, Path string
	// Expires is the zero time for a session cookie.
	Expires  time.Time
	HTTPOnly bool
	Secure   bool
	Session  bool
	// SameSite is "Strict", "Lax", "None" or "" (unspecified).
	SameSite string
}

// Cookies returns every cookie in the browser, for every site, including
// HttpOnly ones (read over the DevTools protocol, Storage.getCookies).
func (b *Browser) Cookies() []Cookie {
	b.t.Helper()
	var out []Cookie
	b.run("reading cookies", func(ctx context.Context) error {
		res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			ck := Cookie{
				Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path,
				HTTPOnly: c.HTTPOnly, Secure: c.Secure, Session: c.Session,
				SameSite: string(c.SameSite),
			}
			if !c.Session && c.Expires > 0 && !math.IsInf(c.Expires, 0) {
				sec, frac := math.Modf(c.Expires)
				ck.Expires = time.Unix(int64(sec), int64(frac*1e9))
			}
			out = append(out, ck)
		}
		return nil
	})
	return out
}

// Cookie returns the cookie with this name set for domain (a host such as
// "127.0.0.1"; empty matches any domain).
func (b *Browser) Cookie(domain, name string) (Cookie, bool) {
	b.t.Helper()
	for _, c := range b.Cookies() {
		if c.Name == name && (domain == "" || c.Domain == domain) {
			return c, true
		}
	}
	return Cookie{}, false
}

// ClearCookies deletes every cookie in the browser.
func (b *Browser) ClearCookies() {
	b.t.Helper()
	b.run("clearing cookies", func(ctx context.Context) error {
		_, err := chromedp.CallBrowser(ctx, storage.ClearCookies, storage.ClearCookiesParams{})
		return err
	})
}
