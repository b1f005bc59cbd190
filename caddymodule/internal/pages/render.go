package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrUnsafeURL is returned when a URL a page would navigate or submit to
// is not a path on this origin or an absolute http(s) URL, as the method
// requires.
var ErrUnsafeURL = errors.New("pages: unsafe URL")

// Chooser returns the identity-provider chooser (200): a GET form to
// d.Action with the return URL, the remember-me checkbox when
// d.RememberMe, and one submit button per provider (provider=Name).
//
// Chrome and Safari apply the policy's form-action 'self' to the
// redirects that follow a submission as well, so the login endpoint MUST
// answer a submission of this form with a page that continues to the
// provider (ProviderRedirect with the authorization URL), not with a 302
// to the provider, which those browsers would block.
//
// d.Action must be a path on this origin and every Provider.URL a path
// on this origin or an absolute http(s) URL; otherwise Chooser returns
// ErrUnsafeURL.
func (s *Set) Chooser(d ChooserData) (Page, error) {
	if err := checkURL(d.Action, pathOnly); err != nil {
		return Page{}, fmt.Errorf("%w: chooser action: %v", ErrUnsafeURL, err)
	}
	for _, p := range d.Providers {
		if err := checkURL(p.URL, pathOrAbsolute); err != nil {
			return Page{}, fmt.Errorf("%w: login URL of provider %q: %v", ErrUnsafeURL, p.Name, err)
		}
	}
	if d.Title == "" {
		d.Title = "Sign in"
	}
	return s.render(chooser, http.StatusOK, d)
}

// Landing returns the page the login callback answers with (200) instead
// of a redirect, which continues the navigation to next from this origin
// (meta refresh and a link; no script). The session cookie is
// SameSite=Strict: on a redirect that began at the provider, cross-site,
// the browser would not send it.
//
// next MUST have been validated by the caller (a return path, or a URL
// on a host of the cookie domain); Landing still refuses with
// ErrUnsafeURL anything but a path on this origin or an absolute http(s)
// URL, and the template escapes it.
func (s *Set) Landing(next string) (Page, error) {
	if err := checkURL(next, pathOrAbsolute); err != nil {
		return Page{}, fmt.Errorf("%w: landing target: %v", ErrUnsafeURL, err)
	}
	return s.render(landing, http.StatusOK, LandingData{Next: next})
}

// SignOut returns the sign-out form (200): a POST to d.Action, with the
// "sign out on every device" checkbox when d.Everywhere. d.Action must be
// a path on this origin (ErrUnsafeURL otherwise).
func (s *Set) SignOut(d SignOutData) (Page, error) {
	if err := checkURL(d.Action, pathOnly); err != nil {
		return Page{}, fmt.Errorf("%w: sign-out action: %v", ErrUnsafeURL, err)
	}
	if d.Title == "" {
		d.Title = "Sign out"
	}
	return s.render(signOut, http.StatusOK, d)
}

// ProviderRedirect returns a page (200) that sends the browser on to
// target, an absolute http(s) URL at the identity provider: the
// provider's logout URL, or its authorization URL after a chooser
// submission. Use it instead of a 302 when the URL carries a token
// (id_token_hint; a Location header ends up in access logs, a response
// body does not) or when the request was a form submission (see
// Chooser). It refuses anything but an absolute http(s) URL with
// ErrUnsafeURL; never pass it a URL that came from the request.
func (s *Set) ProviderRedirect(target string) (Page, error) {
	if err := checkURL(target, absoluteOnly); err != nil {
		return Page{}, fmt.Errorf("%w: provider redirect target: %v", ErrUnsafeURL, err)
	}
	return s.render(redirect, http.StatusOK, RedirectData{Target: target})
}

// Error returns the error page for a browser, with d.Status (400 to 599)
// as its status; d.Title defaults to the status text.
func (s *Set) Error(d ErrorData) (Page, error) {
	if d.Status < 400 || d.Status > 599 {
		return Page{}, fmt.Errorf("pages: error page status %d is not 4xx or 5xx", d.Status)
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
		if d.Title == "" {
			d.Title = "Error"
		}
	}
	return s.render(errorPage, d.Status, d)
}

// render executes the template of kind k with data.
func (s *Set) render(k kind, status int, data any) (Page, error) {
	p := s.pages[k]
	body, err := p.execute(data)
	if err != nil {
		return Page{}, fmt.Errorf("pages: rendering %s: %w", p.file, err)
	}
	return Page{Status: status, Header: p.header(), Body: body}, nil
}

// urlKind is what checkURL accepts.
type urlKind int

const (
	// pathOnly: a path on this origin.
	pathOnly urlKind = iota
	// pathOrAbsolute: a path on this origin or an absolute http(s) URL.
	pathOrAbsolute
	// absoluteOnly: an absolute http(s) URL.
	absoluteOnly
)

// checkURL accepts a path on this origin ("/…" but not "//…") and an
// absolute http(s) URL with a host and no user information, as allow
// says. It refuses ASCII control characters, spaces and backslashes
// anywhere: browsers drop tabs and newlines from URLs ("java\tscript:")
// and read "\" as "/" ("/\evil.example").
func checkURL(raw string, allow urlKind) error {
	if raw == "" {
		return errors.New("empty")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return errors.New("control character, space or backslash")
	}
	if raw[0] == '/' {
		switch {
		case len(raw) > 1 && raw[1] == '/':
			return errors.New("scheme-relative URL")
		case allow == absoluteOnly:
			return errors.New("not an absolute http(s) URL")
		}
		return nil
	}
	if allow == pathOnly {
		return errors.New("not a path on this origin")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return errors.New("not a path or an absolute http(s) URL")
	case u.User != nil:
		return errors.New("user information in the URL")
	}
	return nil
}
