package mcpharness

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// User is what the fetcher types into the provider's login form.
type User struct{ Username, Password string }

// Fetcher is an auth.AuthorizationCodeFetcher that plays the user's
// browser with an HTTP client and a cookie jar: it opens the authorization
// URL the SDK hands it, fills in the provider's login form when the
// provider shows it (a second authorization in the same jar is silent: the
// provider remembers the session), and captures the redirect to
// RedirectURL instead of following it, as a loopback listener of a native
// app would.
type Fetcher struct {
	// RedirectURL is the client's registered redirect URI.
	RedirectURL string
	// User logs in at the provider.
	User User

	c      *http.Client
	mu     sync.Mutex
	asked  []*url.URL
	logins int
}

// NewFetcher returns a fetcher for the redirect URI and user.
func NewFetcher(redirectURL string, u User) *Fetcher {
	jar, _ := cookiejar.New(nil)
	f := &Fetcher{RedirectURL: redirectURL, User: u}
	f.c = &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), f.RedirectURL) {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		}}
	return f
}

var (
	formAction = regexp.MustCompile(`<form id="login-form" method="post" action="([^"]+)">`)
	authReqID  = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

// Fetch implements auth.AuthorizationCodeFetcher.
func (f *Fetcher) Fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	u, err := url.Parse(args.URL)
	if err != nil {
		return nil, fmt.Errorf("authorization URL %q: %w", args.URL, err)
	}
	f.mu.Lock()
	f.asked = append(f.asked, u)
	f.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html")
	resp, body, err := f.do(req)
	if err != nil {
		return nil, err
	}
	if act, id := formAction.FindStringSubmatch(body), authReqID.FindStringSubmatch(body); act != nil && id != nil {
		action, err := resp.Request.URL.Parse(html.UnescapeString(act[1]))
		if err != nil {
			return nil, err
		}
		form := url.Values{"authRequestID": {id[1]}, "username": {f.User.Username}, "password": {f.User.Password}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		f.mu.Lock()
		f.logins++
		f.mu.Unlock()
		if resp, body, err = f.do(req); err != nil {
			return nil, err
		}
	}
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), f.RedirectURL) {
		return nil, fmt.Errorf("authorization did not come back to %s: %d at %s: %.500s", f.RedirectURL, resp.StatusCode, resp.Request.URL, body)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

func (f *Fetcher) do(req *http.Request) (*http.Response, string, error) {
	resp, err := f.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), err
}

// Asked returns the authorization URLs the SDK opened, in order.
func (f *Fetcher) Asked() []*url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*url.URL(nil), f.asked...)
}

// Logins returns how many times the login form was filled in.
func (f *Fetcher) Logins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}

// Exchange is one HTTP request the client made and the answer's head.
type Exchange struct {
	Method string
	URL    *url.URL
	// Header is the request header as sent.
	Header http.Header
	// Status is the answer's status code (0 when the request failed).
	Status int
	// Answer is the answer's header.
	Answer http.Header
}

// Authenticate returns the answer's WWW-Authenticate header.
func (e Exchange) Authenticate() string { return e.Answer.Get("WWW-Authenticate") }

// Recorder is an http.RoundTripper that records every exchange (never the
// bodies, so that event streams keep streaming) and can add headers to the
// requests sent to one host, as a client trying to forge identity would.
type Recorder struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Add is added to every request sent to AddHost (host:port).
	Add     http.Header
	AddHost string

	mu sync.Mutex
	ex []Exchange
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.Add) > 0 && req.URL.Host == r.AddHost {
		req = req.Clone(req.Context())
		for k, vs := range r.Add {
			req.Header[k] = append(req.Header[k], vs...)
		}
	}
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	e := Exchange{Method: req.Method, URL: req.URL, Header: req.Header.Clone()}
	resp, err := base.RoundTrip(req)
	if err == nil {
		e.Status, e.Answer = resp.StatusCode, resp.Header.Clone()
	}
	r.mu.Lock()
	r.ex = append(r.ex, e)
	r.mu.Unlock()
	return resp, err
}

// Exchanges returns every exchange so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.ex...)
}

// String lists the exchanges one a line, for failure messages.
func (r *Recorder) String() string {
	var b strings.Builder
	for _, e := range r.Exchanges() {
		fmt.Fprintf(&b, "%s %s auth=%t mcp-method=%q mcp-name=%q -> %d %s\n", e.Method, e.URL, e.Header.Get("Authorization") != "",
			e.Header.Get("Mcp-Method"), e.Header.Get("Mcp-Name"), e.Status, e.Authenticate())
	}
	return b.String()
}
