package oidcflow

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// IsBrowserNavigation reports whether r is a browser navigating to a page
// (which gets a redirect to login) rather than a script or API client
// (which gets a 401): a GET or HEAD whose Accept includes text/html (or
// XHTML), that is not an XMLHttpRequest (X-Requested-With) and, when the
// browser sends Sec-Fetch-Mode, whose mode is "navigate" (so fetch() and
// subresource requests are excluded).
func IsBrowserNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && !strings.EqualFold(mode, "navigate") {
		return false
	}
	return acceptsHTML(r.Header.Values("Accept"))
}

// acceptsHTML reports whether an Accept header lists text/html or
// application/xhtml+xml with a non-zero quality. "*/*" alone does not
// count: it is what curl and API clients send.
func acceptsHTML(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || (mt != "text/html" && mt != "application/xhtml+xml") {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// SameOrigin reports whether a state-changing request (logout) comes from
// a page of this origin, against cross-site request forgery: the
// browser's Sec-Fetch-Site must be "same-origin" when sent; otherwise the
// Origin header must equal the request's own origin (scheme from TLS,
// host from the Host header). A request with neither is refused.
func SameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

// Page is a small HTML response the adapter writes as is: status, then
// headers, then body.
type Page struct {
	// Status is the HTTP status code.
	Status int
	// Header are the response headers (content type, no-store caching, a
	// strict Content-Security-Policy, no referrer).
	Header http.Header
	// Body is the HTML document.
	Body []byte
}

// landingScript continues the navigation where meta refresh is disabled.
// It is static so the CSP can allow it by hash.
const landingScript = `location.replace(document.getElementById("next").href)`

// landingScriptHash is the CSP source of landingScript.
var landingScriptHash = func() string {
	sum := sha256.Sum256([]byte(landingScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// pageHeader returns the headers of our HTML pages.
func pageHeader(scriptSrc string) http.Header {
	csp := "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	if scriptSrc != "" {
		csp += "; script-src " + scriptSrc
	}
	return http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {csp},
		"Referrer-Policy":         {"no-referrer"},
		"X-Content-Type-Options":  {"nosniff"},
	}
}

// LandingPage returns the page the callback answers with (200) instead of
// a 302 to returnTo. The session cookie is SameSite=Strict, and a browser
// that arrives from the provider (a cross-site navigation, redirects
// included) would not send it on the redirect to returnTo: the gateway
// would see no session and start another login (a loop). This page
// continues the navigation from our own origin (meta refresh, a script
// allowed by CSP hash, and a link), which is same-site, so the cookie is
// sent. returnTo is validated again (anything unsafe becomes "/").
func LandingPage(returnTo string) Page {
	next := html.EscapeString(SafeReturnPath(returnTo))
	body := `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=` + next + `">
<meta name="referrer" content="no-referrer">
<title>Signing in…</title></head>
<body><p>Signed in. <a id="next" href="` + next + `">Continue</a></p>
<script>` + landingScript + `</script></body></html>
`
	return Page{Status: http.StatusOK, Header: pageHeader(landingScriptHash), Body: []byte(body)}
}

// LogoutPage returns a page with a button that POSTs to action (the
// logout endpoint), for a GET of the logout URL: logout changes state, so
// it is a same-origin POST (see SameOrigin), never a GET a foreign page
// could trigger with an image tag.
func LogoutPage(action string) Page {
	a := html.EscapeString(SafeReturnPath(action))
	body := `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head>
<body><form method="post" action="` + a + `"><button type="submit">Sign out</button></form></body></html>
`
	return Page{Status: http.StatusOK, Header: pageHeader(""), Body: []byte(body)}
}

// ProviderRedirectPage returns a page (200) that sends the browser on to
// target, an absolute http(s) URL at the identity provider, such as
// LogoutURL's. Use it instead of a 302 when the URL carries a token
// (id_token_hint): a Location header ends up in access logs, a response
// body does not. It refuses anything but an absolute http(s) URL; never
// pass it a URL that came from the request.
func ProviderRedirectPage(target string) (Page, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(target, "\r\n\t") {
		return Page{}, errors.New("oidcflow: provider redirect target must be an absolute http(s) URL")
	}
	next := html.EscapeString(u.String())
	body := `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=` + next + `">
<meta name="referrer" content="no-referrer">
<title>Signing out…</title></head>
<body><p><a id="next" href="` + next + `">Continue</a></p>
<script>` + landingScript + `</script></body></html>
`
	return Page{Status: http.StatusOK, Header: pageHeader(landingScriptHash), Body: []byte(body)}, nil
}
