package oidcflow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// RevokeTokens revokes a session's grant at the provider's revocation
// endpoint (RFC 7009): the refresh token (token_type_hint
// refresh_token), or the access token when there is none, with the
// client's authentication. It reports false, nil when there is nothing
// to do: revocation disabled, no endpoint advertised, no token. A
// failure is reported as a problem and returned (the caller's logout
// goes on: the local session is what it ends first).
func (c *Client) RevokeTokens(ctx context.Context, t session.Tokens) (bool, error) {
	if c.cfg.DisableRevocation {
		return false, nil
	}
	token, hint := t.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = t.AccessToken, "access_token"
	}
	if token == "" {
		return false, nil
	}
	p, err := c.provider(ctx)
	if err != nil {
		return false, err
	}
	if p.meta.RevocationEndpoint == "" {
		return false, nil
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if p.endpoint.AuthStyle == oauth2.AuthStyleInParams {
		form.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			form.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.meta.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("%w: revocation endpoint: %v", ErrMisconfigured, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.endpoint.AuthStyle == oauth2.AuthStyleInHeader {
		// RFC 6749 §2.3.1: form-encode the id and secret, then Basic.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		err = transportError("revocation endpoint", p.meta.RevocationEndpoint, err)
		c.problems.report(componentRevocation, err)
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// RFC 7009 §2.2: 200 whether or not the token was still valid.
	if err := statusError("revocation endpoint", p.meta.RevocationEndpoint, resp.StatusCode); err != nil {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest {
			err = fmt.Errorf("%w%s (check client_id and client_secret)", err, bearerError(resp.Header))
		}
		c.problems.report(componentRevocation, err)
		return false, err
	}
	c.problems.resolved(componentRevocation)
	return true, nil
}
