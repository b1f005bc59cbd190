package providercheck

import (
	"net/url"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/endpoint"
)

// checkURLs checks the gateway's own URLs the provider sends browsers
// and logout tokens to: https, or http on loopback only; the redirect
// URL on the callback path.
func (o *oidcCheck) checkURLs() {
	callback := o.cfg.EndpointPrefix + "callback"
	if u, ok := o.checkURL("redirect_url", o.cfg.RedirectURL); ok {
		switch {
		case u.Path != callback:
			o.rs.fail("redirect_url", "%s does not end in %s: the gateway answers the provider's redirect only there", o.cfg.RedirectURL, callback)
		case u.RawQuery != "" || u.Fragment != "":
			o.rs.fail("redirect_url", "%s must not have a query or fragment", o.cfg.RedirectURL)
		default:
			o.rs.ok("redirect_url", "%s (register it at the provider exactly so)", o.cfg.RedirectURL)
		}
	}
	if o.cfg.PostLogoutRedirectURL == "" {
		o.rs.skip("post_logout_redirect_url", "not configured: after logout the provider shows its own page")
	} else if _, ok := o.checkURL("post_logout_redirect_url", o.cfg.PostLogoutRedirectURL); ok {
		o.rs.ok("post_logout_redirect_url", "%s (register it at the provider)", o.cfg.PostLogoutRedirectURL)
	}
	if bc := o.backchannelURL(); bc != "" {
		if _, ok := o.checkURL("back-channel logout url", bc); ok {
			o.rs.ok("back-channel logout url", "%s", bc)
		}
	}
}

// checkURL reports a URL that is not https (or http on loopback) and
// returns it parsed when it is.
func (o *oidcCheck) checkURL(check, raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		o.rs.fail(check, "not configured")
		return nil, false
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		o.rs.fail(check, "%q is not an absolute https URL", raw)
		return nil, false
	case u.Scheme == "http" && !endpoint.IsLoopback(u.Hostname()):
		o.rs.fail(check, "%s uses plain http on %s, which is not loopback: browsers and the provider would send codes and tokens in clear, and providers refuse such URLs; use https", raw, u.Hostname())
		return nil, false
	}
	return u, true
}

// backchannelURL is the back-channel logout URL to register at the
// provider: the redirect URL's origin and the endpoint prefix; "" when
// the redirect URL does not parse.
func (o *oidcCheck) backchannelURL() string {
	u, err := url.Parse(o.cfg.RedirectURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(o.cfg.EndpointPrefix, "/") + "/backchannel-logout"
}
