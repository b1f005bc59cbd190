package session

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Default cookie names.
const (
	// DefaultCookieName is the session cookie's name when Secure (the
	// default): the `__Host-` prefix makes browsers refuse it unless it is
	// Secure, has Path=/ and no Domain, so no subdomain can plant or
	// overwrite it.
	DefaultCookieName = "__Host-portcullis"
	// DefaultInsecureCookieName is the name used with CookieConfig.Insecure,
	// where the `__Host-` prefix is impossible.
	DefaultInsecureCookieName = "portcullis"
	// DefaultDomainCookieName is the name of a Secure session cookie
	// shared by a domain's hosts (CookieConfig.Domain): `__Host-` forbids
	// a Domain attribute, `__Secure-` still makes browsers refuse it
	// unless Secure.
	DefaultDomainCookieName = "__Secure-portcullis"
)

// CookieConfig configures the session cookie. The zero value is the
// secure default.
type CookieConfig struct {
	// Name is the cookie's name. Default: DefaultCookieName, or
	// DefaultInsecureCookieName with Insecure. A name with the `__Host-`
	// or `__Secure-` prefix is refused with Insecure.
	Name string
	// Insecure omits the Secure attribute so the cookie works over plain
	// HTTP. For local development only: it MUST NOT be set in production,
	// where the cookie would travel in clear text.
	Insecure bool
	// Domain, when set, shares the session cookie with every host of that
	// domain (single sign-on across app.example.com, api.example.com …).
	// Empty: a host-only cookie. Flow cookies stay host-only either way.
	Domain string
	// SameSite is the cookie's SameSite attribute: http.SameSiteStrictMode
	// (default, also for SameSiteDefaultMode) or http.SameSiteLaxMode.
	// SameSiteNoneMode is refused: it would send the cookie on cross-site
	// requests (CSRF).
	SameSite http.SameSite
}

// withDefaults returns c with defaults applied, or an error for an
// unusable configuration.
func (c CookieConfig) withDefaults() (CookieConfig, error) {
	if c.Name == "" {
		c.Name = DefaultCookieName
		switch {
		case c.Insecure:
			c.Name = DefaultInsecureCookieName
		case c.Domain != "":
			c.Name = DefaultDomainCookieName
		}
	}
	if c.Domain != "" && hasPrefixFold(c.Name, "__Host-") {
		return c, fmt.Errorf("session: cookie name %q cannot have a domain (browsers refuse __Host- cookies with one); use the __Secure- prefix", c.Name)
	}
	if !validCookieName(c.Name) {
		return c, fmt.Errorf("session: cookie name %q is not a valid cookie name", c.Name)
	}
	if c.Insecure && (hasPrefixFold(c.Name, "__Host-") || hasPrefixFold(c.Name, "__Secure-")) {
		return c, fmt.Errorf("session: cookie name %q needs the Secure attribute; do not combine it with insecure cookies", c.Name)
	}
	switch c.SameSite {
	case 0, http.SameSiteDefaultMode:
		c.SameSite = http.SameSiteStrictMode
	case http.SameSiteStrictMode, http.SameSiteLaxMode:
	default:
		return c, errors.New("session: cookie SameSite must be Strict or Lax")
	}
	return c, nil
}

// hasPrefixFold reports whether s starts with prefix, ignoring case
// (browsers match cookie prefixes case-insensitively).
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// NewCookie returns a cookie with the attributes of c (HttpOnly, Secure
// unless Insecure, Path=/, SameSite) carrying value and expiring after
// maxAge (a zero or negative maxAge deletes it). It is exported for other
// cookies that must follow the same rules, such as the login flow cookie.
func (c CookieConfig) NewCookie(name, value string, maxAge time.Duration, sameSite http.SameSite) *http.Cookie {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   !c.Insecure,
		SameSite: sameSite,
	}
	if maxAge > 0 {
		ck.MaxAge = int((maxAge + time.Second - 1) / time.Second)
	} else {
		ck.MaxAge = -1
	}
	return ck
}

// ticketCookie returns the session cookie carrying id, living until
// expires (the absolute expiry).
func (m *Manager) ticketCookie(id string, expires time.Time) (*http.Cookie, error) {
	v, err := securecookie.EncodeMulti(m.cookie.Name, []byte(id), m.codecs...)
	if err != nil {
		return nil, errors.New("session: encoding the session cookie failed")
	}
	ck := m.cookie.NewCookie(m.cookie.Name, v, expires.Sub(m.now()), m.cookie.SameSite)
	ck.Domain = m.cookie.Domain
	return ck, nil
}

// ClearCookie returns a cookie that deletes the session cookie. The
// adapter sets it whenever Load reports ErrNoSession other than
// ErrNoCookie, and on logout.
func (m *Manager) ClearCookie() *http.Cookie {
	ck := m.cookie.NewCookie(m.cookie.Name, "", 0, m.cookie.SameSite)
	ck.Domain = m.cookie.Domain
	return ck
}

// CookieName returns the session cookie's name, for the adapter to strip
// it from requests it forwards upstream.
func (m *Manager) CookieName() string { return m.cookie.Name }

// maxTicketLength bounds the cookie value we try to decode; a real ticket
// is about 200 bytes.
const maxTicketLength = 1024

// ticket returns the session id, its hash and store key in r's session
// cookie: ErrNoCookie without one, ErrInvalidCookie if it does not decode
// with any configured key. If the request carries several cookies of that
// name (a planted one), the first that decodes is used. The cookies are
// those net/http's Request.CookiesNamed reads (see cookieScan), in its
// order. The entry returned is shared: do not modify it.
func (m *Manager) ticket(r *http.Request) (*cachedTicket, error) {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return nil, ErrNoCookie
	}
	sc, ok := newCookieScan(lines, m.cookie.Name)
	if !ok {
		return m.ticketNetHTTP(r)
	}
	now := m.now()
	found := false
	for {
		v, ok := sc.next()
		if !ok {
			break
		}
		// A value that decoded before is a valid cookie value (only such
		// values are remembered), so the byte check is skipped on a hit.
		if t, ok := m.tickets.get(ticketKey(v), v, now); ok {
			return t, nil
		}
		if !validCookieValue(v) {
			continue // net/http drops it
		}
		found = true
		if t, err := m.decodeUncached(v, now); err == nil {
			return t, nil
		}
	}
	if !found {
		return nil, ErrNoCookie
	}
	return nil, ErrInvalidCookie
}

// ticketNetHTTP is ticket with net/http reading the cookies, for requests
// the scan leaves to it.
func (m *Manager) ticketNetHTTP(r *http.Request) (*cachedTicket, error) {
	cookies := r.CookiesNamed(m.cookie.Name)
	if len(cookies) == 0 {
		return nil, ErrNoCookie
	}
	for _, c := range cookies {
		if t, err := m.decodeTicket(c.Value); err == nil {
			return t, nil
		}
	}
	return nil, ErrInvalidCookie
}

// DecodeTicket returns the session id in a session cookie value, or
// ErrInvalidCookie. It never panics, whatever the input.
func (m *Manager) DecodeTicket(value string) (string, error) {
	t, err := m.decodeTicket(value)
	if err != nil {
		return "", err
	}
	return t.id, nil
}

// decodeTicket is DecodeTicket, remembering cookies that decoded (see
// ticketCache). The entry returned is shared: do not modify it.
func (m *Manager) decodeTicket(value string) (*cachedTicket, error) {
	now := m.now()
	if t, ok := m.tickets.get(ticketKey(value), value, now); ok {
		return t, nil
	}
	return m.decodeUncached(value, now)
}

// decodeUncached decodes a cookie value not found in the ticket cache and
// remembers it if it decoded and is a valid cookie value (securecookie
// skips line breaks a Cookie header cannot carry in a value; such a value
// is decoded every time, so a cache hit always is a valid cookie value).
func (m *Manager) decodeUncached(value string, now time.Time) (*cachedTicket, error) {
	if value == "" || len(value) > maxTicketLength {
		return nil, ErrInvalidCookie
	}
	var raw []byte
	if err := securecookie.DecodeMulti(m.cookie.Name, value, &raw, m.codecs...); err != nil {
		return nil, ErrInvalidCookie
	}
	id := string(raw)
	if !validID(id) {
		return nil, ErrInvalidCookie
	}
	h := hashID(id)
	t := cachedTicket{value: value, id: id, idHash: h, key: m.keys.session(h), until: now.Add(ticketCacheTTL)}
	if !validCookieValue(value) {
		return &t, nil
	}
	return m.tickets.put(ticketKey(value), t), nil
}
