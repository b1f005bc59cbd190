package oidcflow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// maxUserInfoBytes bounds a UserInfo response.
const maxUserInfoBytes = 256 << 10

// protocolClaims describe the token or the authentication, not the
// user: UserInfo never overrides them (OIDC Core §5.3.2 lets UserInfo
// carry only user claims, and the ID token is what was verified).
var protocolClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash", "c_hash",
	"auth_time", "acr", "amr", "azp", "sid",
}

// withUserInfo returns the claims of a login or refresh: base (claims of
// the verified ID token) merged with the UserInfo response for the
// access token, whose sub must be subject. UserInfo wins for user claims
// (it is the provider's current view); protocol claims stay the ID
// token's. It also returns the names UserInfo supplied (nil when
// UserInfo was not called: disabled, or no endpoint).
func (c *Client) withUserInfo(ctx context.Context, p *provider, tok *oauth2.Token, subject string, base map[string]any) (map[string]any, []string, error) {
	if c.cfg.DisableUserInfo || p.meta.UserinfoEndpoint == "" || tok.AccessToken == "" {
		return base, nil, nil
	}
	ui, err := c.userInfo(ctx, p, tok)
	if err != nil {
		c.problems.report(componentUserInfo, err)
		return nil, nil, err
	}
	if sub, _ := ui["sub"].(string); sub != subject {
		err := ErrUserInfoSubject
		c.problems.report(componentUserInfo, err)
		return nil, nil, err
	}
	c.problems.resolved(componentUserInfo)
	merged := maps.Clone(base)
	if merged == nil {
		merged = map[string]any{}
	}
	var names []string
	for k, v := range ui {
		if slices.Contains(protocolClaims, k) {
			continue
		}
		merged[k] = v
		names = append(names, k)
	}
	slices.Sort(names)
	return merged, names, nil
}

// userInfo calls the UserInfo endpoint (OIDC Core §5.3) with the access
// token and returns its claims: a JSON object, or a JWT signed by the
// provider (application/jwt) whose iss and aud must be the issuer and
// us (§5.3.2). A 401/403 is ErrUserInfo (the token was refused); 5xx,
// 429 and network failures are also ErrUnavailable.
func (c *Client) userInfo(ctx context.Context, p *provider, tok *oauth2.Token) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.meta.UserinfoEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUserInfo, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json, application/jwt")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: UserInfo endpoint unreachable: %s", ErrUserInfo, ErrUnavailable, lastPart(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserInfoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w: reading the UserInfo response: %s", ErrUserInfo, ErrUnavailable, lastPart(err))
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: %w: UserInfo endpoint answered %d", ErrUserInfo, ErrUnavailable, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: UserInfo endpoint answered %d%s", ErrUserInfo, resp.StatusCode, bearerError(resp.Header))
	case len(body) > maxUserInfoBytes:
		return nil, fmt.Errorf("%w: UserInfo response larger than %d bytes", ErrUserInfo, maxUserInfoBytes)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var claims map[string]any
		if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
			return nil, fmt.Errorf("%w: the UserInfo response is not a JSON object", ErrUserInfo)
		}
		return claims, nil
	case "application/jwt":
		claims, _, err := c.verifySigned(ctx, p, strings.TrimSpace(string(body)), ErrUserInfo)
		if err != nil {
			return nil, err
		}
		// OIDC Core §5.3.2: a signed response carries iss and aud; its
		// times, when present, are checked like a token's.
		if err := c.checkIssuerAudience(claims, ErrUserInfo); err != nil {
			return nil, fmt.Errorf("%w (signed UserInfo from another issuer or for another audience)", err)
		}
		if err := c.checkTimes(claims, ErrUserInfo, false, false); err != nil {
			return nil, err
		}
		return claims, nil
	}
	return nil, fmt.Errorf("%w: UserInfo answered with content type %q", ErrUserInfo, mt)
}

// bearerError returns ` (error <code>)` from a WWW-Authenticate Bearer
// challenge, or "".
func bearerError(h http.Header) string {
	v := h.Get("WWW-Authenticate")
	i := strings.Index(v, `error="`)
	if i < 0 {
		return ""
	}
	code, _, _ := strings.Cut(v[i+len(`error="`):], `"`)
	return " (error " + safeCode(code) + ")"
}
