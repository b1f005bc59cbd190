package oidcflow

import (
	"mime"
	"net/http"
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
