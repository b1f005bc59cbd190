package harness

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Agent is a browser stand-in made of an HTTP client with a cookie jar:
// it follows a gateway's login redirect, fills the test provider's login
// form and keeps the cookies, for tests and benchmarks that need many
// sessions quickly. (Real-browser behaviour is tested with Chromium.)
type Agent struct {
	c      *http.Client
	stopAt string
}

// NewAgent returns an agent with an empty cookie jar.
func NewAgent() *Agent {
	jar, _ := cookiejar.New(nil)
	a := &Agent{}
	a.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if a.stopAt != "" && strings.HasPrefix(req.URL.String(), a.stopAt) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return a
}

// StopAt makes the agent stop following redirects to URLs starting with
// prefix (empty: follow all), so a test can capture, say, a callback URL.
func (a *Agent) StopAt(prefix string) { a.stopAt = prefix }

var (
	formAction = regexp.MustCompile(`<form id="login-form" method="post" action="([^"]+)">`)
	authReqID  = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)
)

// Navigate GETs u as a top-level browser navigation, following redirects,
// and returns the last response and its body.
func (a *Agent) Navigate(u string) (*http.Response, string, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// SubmitLogin fills the provider's login form found in body (the page at
// resp) and returns where the provider sends the browser next.
func (a *Agent) SubmitLogin(resp *http.Response, body, user, pass string) (*http.Response, string, error) {
	act, id := formAction.FindStringSubmatch(body), authReqID.FindStringSubmatch(body)
	if act == nil || id == nil {
		return nil, "", fmt.Errorf("not a login page (%s)", resp.Request.URL)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(act[1]))
	if err != nil {
		return nil, "", err
	}
	r, err := a.c.PostForm(action.String(), url.Values{"authRequestID": {id[1]}, "username": {user}, "password": {pass}})
	if err != nil {
		return nil, "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return r, string(b), err
}

// Login opens gatewayURL+path, logs in at the provider if asked, and
// returns the value of the gateway's session cookie.
func (a *Agent) Login(gatewayURL, path, cookieName, user, pass string) (string, error) {
	resp, body, err := a.Navigate(gatewayURL + path)
	if err != nil {
		return "", err
	}
	if strings.Contains(body, `id="login-form"`) {
		if resp, body, err = a.SubmitLogin(resp, body, user, pass); err != nil {
			return "", err
		}
	}
	if !strings.Contains(body, `id="next"`) && !strings.Contains(body, `http-equiv="refresh"`) {
		return "", fmt.Errorf("no landing page after login (%d at %s)", resp.StatusCode, resp.Request.URL)
	}
	return a.Cookie(gatewayURL, cookieName), nil
}

// Jar returns the agent's cookie jar.
func (a *Agent) Jar() http.CookieJar { return a.c.Jar }

// Cookie returns the value of a cookie the agent holds for u.
func (a *Agent) Cookie(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	for _, c := range a.c.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}
