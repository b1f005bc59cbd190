package providercheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// probeAuthorize makes the authorization request a login would make,
// without following redirects, and reads the provider's first answer:
// its login page (or a redirect to it) means it accepts the client and
// the redirect URI; an error page, or a redirect back with error=, means
// logins fail.
func (o *oidcCheck) probeAuthorize(ctx context.Context) {
	const check = "authorization endpoint"
	u, err := url.Parse(o.meta.AuthorizationEndpoint)
	if err != nil {
		o.rs.fail(check, "authorization_endpoint %q does not parse: %v", o.meta.AuthorizationEndpoint, err)
		return
	}
	q := u.Query()
	for k, v := range o.cfg.AuthParams {
		q.Set(k, v)
	}
	q.Set("client_id", o.cfg.ClientID)
	q.Set("redirect_uri", o.cfg.RedirectURL)
	q.Set("response_type", "code")
	q.Set("scope", strings.Join(o.cfg.Scopes, " "))
	q.Set("state", randomToken())
	q.Set("nonce", randomToken())
	q.Set("code_challenge", s256(randomToken()))
	q.Set("code_challenge_method", "S256")
	if len(o.cfg.Prompt) > 0 {
		q.Set("prompt", strings.Join(o.cfg.Prompt, " "))
	}
	if o.cfg.Claims != "" {
		q.Set("claims", o.cfg.Claims)
	}
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		o.rs.fail(check, "building the request: %v", err)
		return
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	client := *o.client
	client.Jar = nil
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		o.rs.warn(check, "%s cannot be reached from this host: %s (browsers must reach it)", o.meta.AuthorizationEndpoint, transportCause(err))
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	who := fmt.Sprintf("client_id %q", o.cfg.ClientID)
	switch s := resp.StatusCode; {
	case s >= 300 && s < 400:
		o.authorizeRedirect(resp, who)
	case s >= 200 && s < 300:
		o.rs.ok(check, "answered %d with a page (its login page, presumably): %s and redirect_uri not refused", s, who)
	case s >= 400 && s < 500:
		detail := pageExcerpt(body, resp.Header.Get("Content-Type"))
		if detail != "" {
			detail = fmt.Sprintf(" %q", detail)
		}
		o.rs.fail(check, "the provider refuses the login request with HTTP %d%s: %s is probably unknown there, or redirect_uri %s is not registered for it", s, detail, who, o.cfg.RedirectURL)
	default:
		o.rs.warn(check, "answered HTTP %d: the provider may be failing; the client could not be checked", s)
	}
}

// authorizeRedirect judges a redirect answer of the authorization
// endpoint.
func (o *oidcCheck) authorizeRedirect(resp *http.Response, who string) {
	const check = "authorization endpoint"
	loc, err := resp.Location()
	if err != nil {
		o.rs.warn(check, "answered %d without a usable Location", resp.StatusCode)
		return
	}
	errCode, desc := quoteText(loc.Query().Get("error")), quoteText(loc.Query().Get("error_description"))
	if desc != "" {
		desc = fmt.Sprintf(" %q", desc)
	}
	back := sameEndpoint(loc, o.cfg.RedirectURL)
	switch {
	case back && errCode != "":
		o.rs.fail(check, "the provider sends the browser back to redirect_url with error=%s%s: it refuses this login request for %s (the client, or a parameter such as scope or prompt)", errCode, desc, who)
	case back:
		o.rs.ok(check, "the provider sends the browser straight back to redirect_url: %s and redirect_uri accepted", who)
	case errCode != "":
		o.rs.warn(check, "the provider redirects to %s with error=%s%s: %s may be unknown, or redirect_uri %s not registered for it", withoutQuery(loc), errCode, desc, who, o.cfg.RedirectURL)
	default:
		o.rs.ok(check, "redirects to %s (its login page, presumably): %s and redirect_uri not refused", withoutQuery(loc), who)
	}
}

// sameEndpoint reports whether loc is the URL raw, ignoring the query.
func sameEndpoint(loc *url.URL, raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.EqualFold(loc.Scheme, u.Scheme) && strings.EqualFold(loc.Host, u.Host) && loc.Path == u.Path
}

// withoutQuery names a URL without its query and fragment, which may
// carry request ids.
func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.User = "", "", nil
	return c.String()
}

var (
	scriptOrStyle = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)\s*>`)
	htmlTag       = regexp.MustCompile(`(?s)<[^>]*>`)
)

// pageExcerpt returns the readable start of an error page: the error and
// description of a JSON body, the text of an HTML page, or the first
// line of anything else, quoted for the report.
func pageExcerpt(body []byte, contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(body, &e); err == nil && e.Error != "" {
			return quoteText(strings.TrimSpace(e.Error + " " + e.Description))
		}
	case mt == "text/html" || mt == "application/xhtml+xml":
		s := scriptOrStyle.ReplaceAllString(string(body), " ")
		return quoteText(html.UnescapeString(htmlTag.ReplaceAllString(s, " ")))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return quoteText(line)
}

// transportCause describes a failed request without the method and URL
// that url.Error adds (the report line names the URL already).
func transportCause(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Sprintf("host %q not found (DNS)", dnsErr.Name)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return quoteText(err.Error())
}
