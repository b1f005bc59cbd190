package providercheck

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The probes ask the provider what it thinks of the client without a
// user: a token request with a made-up code (and, to confirm, a made-up
// refresh token), and an authorization request the browser would make.
// Neither can succeed, so nothing changes at the provider; the error the
// provider gives (RFC 6749 §5.2, §4.1.2.1) says whether it knows the
// client.

// maxProbeBody bounds what is read of a probe's answer.
const maxProbeBody = 64 << 10

// tokenAnswer is the token endpoint's answer to a probe.
type tokenAnswer struct {
	status int
	code   string // the OAuth error code, "" when none
	desc   string // the error description, quoted for the report
}

// String describes the answer for a report line.
func (a tokenAnswer) String() string {
	s := fmt.Sprintf("HTTP %d", a.status)
	if a.code != "" {
		s += " " + a.code
	}
	if a.desc != "" {
		s += fmt.Sprintf(" %q", a.desc)
	}
	return s
}

// refused reports whether the answer refuses the client's credentials.
func (a tokenAnswer) refused() bool {
	return a.code == "invalid_client" || (a.code == "" && a.status == http.StatusUnauthorized)
}

// probeToken posts a code exchange with a made-up code, authenticated as
// the gateway would authenticate.
func (o *oidcCheck) probeToken(ctx context.Context) {
	const check = "token endpoint"
	style := o.authStyle()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {"portcullis-check-" + randomToken()},
		"redirect_uri":  {o.cfg.RedirectURL},
		"code_verifier": {randomToken()},
	}
	ans, err := o.postToken(ctx, style, form)
	if err != nil {
		o.rs.fail(check, "%v: the gateway cannot exchange codes, so logins fail", err)
		return
	}
	who := fmt.Sprintf("client_id %q", o.cfg.ClientID)
	switch {
	case ans.refused():
		o.rs.fail(check, "the provider refuses %s with %s (%s): %s", who, describeStyle(style), ans, refusedCause(style))
	case ans.code == "unauthorized_client":
		o.rs.fail(check, "the provider does not allow %s the authorization_code grant (%s): enable the authorization code flow for this client", who, ans)
	case ans.code == "unsupported_grant_type":
		o.rs.fail(check, "the token endpoint does not support the authorization_code grant (%s)", ans)
	case ans.code == "invalid_grant" || ans.code == "invalid_request":
		o.confirmClient(ctx, style, ans)
	case ans.status >= 500 || ans.status == http.StatusTooManyRequests:
		o.rs.warn(check, "answered %s to a made-up code: the provider may be failing; the client could not be checked", ans)
	default:
		o.rs.warn(check, "answered %s to a made-up code where invalid_grant was expected (RFC 6749 §5.2): the client could not be checked", ans)
	}
}

// confirmClient follows a probe the provider did not refuse: providers
// that look the code up before authenticating the client answer
// invalid_grant whatever the client, so a made-up refresh token (which
// providers check after the client) confirms or refutes the credentials.
func (o *oidcCheck) confirmClient(ctx context.Context, style string, first tokenAnswer) {
	const check = "token endpoint"
	who := fmt.Sprintf("client_id %q", o.cfg.ClientID)
	notRefused := fmt.Sprintf("the provider did not refuse %s with %s (%s to a made-up code, RFC 6749 §5.2)", who, describeStyle(style), first)
	if !o.meta.SupportsRefresh() {
		o.rs.ok(check, "%s", notRefused)
		return
	}
	ans, err := o.postToken(ctx, style, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {"portcullis-check-" + randomToken()},
	})
	switch {
	case err != nil:
		o.rs.warn(check, "%s, but then %v", notRefused, err)
	case ans.refused():
		o.rs.fail(check, "the provider refuses %s with %s (%s to a made-up refresh token, after %s to a made-up code): %s", who, describeStyle(style), ans, first, refusedCause(style))
	case ans.code == "invalid_grant":
		credentials := "and its secret were accepted"
		if style == "none" {
			credentials = "was accepted as a public client"
		}
		o.rs.ok(check, "%s %s with %s (invalid_grant for a made-up code and a made-up refresh token, RFC 6749 §5.2)", who, credentials, describeStyle(style))
	case ans.status >= 500:
		o.rs.warn(check, "%s, but it answered %s to a made-up refresh token: the client could not be confirmed", notRefused, ans)
	default:
		o.rs.ok(check, "%s", notRefused)
	}
}

// refusedCause is the likely cause of invalid_client for an auth style.
func refusedCause(style string) string {
	if style == "none" {
		return "wrong client id, or the client is confidential at the provider and needs its client_secret"
	}
	return "wrong client id or secret"
}

// postToken sends form to the token endpoint with the client's
// authentication and reads the answer.
func (o *oidcCheck) postToken(ctx context.Context, style string, form url.Values) (tokenAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	switch style {
	case "post":
		form.Set("client_id", o.cfg.ClientID)
		form.Set("client_secret", o.cfg.ClientSecret)
	case "none":
		form.Set("client_id", o.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("token endpoint %q: %w", o.meta.TokenEndpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if style == "basic" {
		// RFC 6749 §2.3.1: both are form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(o.cfg.ClientID), url.QueryEscape(o.cfg.ClientSecret))
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("token endpoint %s unreachable: %s", o.meta.TokenEndpoint, transportCause(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	ans := tokenAnswer{status: resp.StatusCode}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) == nil {
		ans.code, ans.desc = quoteText(e.Error), quoteText(e.Description)
	}
	return ans, nil
}

// randomToken returns 256 random bits, base64url: 43 characters, a
// valid PKCE verifier (RFC 7636 §4.1) and an unguessable made-up value.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return b
}

// s256 is the PKCE S256 challenge of verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
