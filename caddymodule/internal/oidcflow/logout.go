package oidcflow

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// LogoutURL returns the provider's RP-initiated logout URL
// (OpenID Connect RP-Initiated Logout 1.0): end_session_endpoint with
// id_token_hint (when idTokenHint is set), client_id,
// post_logout_redirect_uri (Config.PostLogoutRedirectURL, when set) and
// state (when set). The URL carries the ID token: send the browser there
// with a page (pages.ProviderRedirect) rather than a Location header, which access
// logs record. Errors: ErrUnavailable, ErrNoEndSession (then just end the
// local session and go to the post-logout page).
func (c *Client) LogoutURL(ctx context.Context, idTokenHint, state string) (string, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return "", err
	}
	if p.meta.EndSessionEndpoint == "" {
		return "", ErrNoEndSession
	}
	u, err := url.Parse(p.meta.EndSessionEndpoint)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("%w (end_session_endpoint is not an absolute URL)", ErrNoEndSession)
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("client_id", c.cfg.ClientID)
	if c.cfg.PostLogoutRedirectURL != "" {
		q.Set("post_logout_redirect_uri", c.cfg.PostLogoutRedirectURL)
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// LogoutToken is what a verified back-channel logout token names.
type LogoutToken struct {
	// Subject is the `sub` claim; may be empty when SID is set.
	Subject string
	// SID is the provider session id (`sid`); may be empty when Subject
	// is set.
	SID string
	// Issuer is the token's issuer.
	Issuer string
	// IssuedAt is the token's `iat`.
	IssuedAt time.Time
}

// maxLogoutTokenBytes bounds a logout token.
const maxLogoutTokenBytes = 16 << 10

// VerifyLogoutToken verifies a back-channel logout token
// (OpenID Connect Back-Channel Logout 1.0, section 2.6): signature with
// the provider's keys, iss, aud (our client id), exp, jti present, the
// back-channel logout event, sub or sid present, no nonce. It also refuses tokens whose iat is more than
// ClockSkew in the future or older than LogoutTokenMaxAge, and a jti
// already seen (ErrLogoutReplayed; remembered in the store until the
// token could no longer be accepted). The adapter then calls
// session.Manager.BackchannelLogout(sub, sid) and answers 200; on error
// 400 (ErrUnavailable: 503).
func (c *Client) VerifyLogoutToken(ctx context.Context, raw string) (*LogoutToken, error) {
	if raw == "" || len(raw) > maxLogoutTokenBytes {
		return nil, fmt.Errorf("%w (missing or oversized)", ErrLogoutToken)
	}
	p, err := c.provider(ctx)
	if err != nil {
		return nil, err
	}
	lt, err := c.verifyLogoutClaims(ctx, p, raw)
	if err != nil {
		return nil, err
	}
	now := c.now()
	switch {
	case lt.IssuedAt.After(now.Add(c.skew)):
		return nil, fmt.Errorf("%w: issued in the future", ErrLogoutToken)
	case now.Sub(lt.IssuedAt) > c.cfg.LogoutTokenMaxAge:
		return nil, fmt.Errorf("%w: issued too long ago", ErrLogoutToken)
	}
	// Remember the jti for as long as the token would be accepted.
	// Plus a second: the store refuses a zero TTL (iat exactly
	// LogoutTokenMaxAge ago, no exp, no skew).
	ttl := max(lt.expiry.Sub(now), lt.IssuedAt.Add(c.cfg.LogoutTokenMaxAge).Sub(now), 0) + c.skew + time.Second
	fresh, err := c.cfg.Store.SetNX(ctx, c.jtiKey(lt.Issuer, lt.jti), []byte{1}, ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: recording logout token: %w", ErrUnavailable, err)
	}
	if !fresh {
		return nil, ErrLogoutReplayed
	}
	return &lt.LogoutToken, nil
}

// backchannelLogoutEvent is the event member of a logout token.
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// verifiedLogout is a logout token whose signature and claims passed.
type verifiedLogout struct {
	LogoutToken
	jti    string
	expiry time.Time
}

// verifyLogoutClaims verifies a logout token's signature and claims
// (Back-Channel Logout 1.0 §2.6): iss, aud, iat, exp when present, jti,
// an events claim whose backchannel-logout member is a JSON object, sub
// or sid (strings), and no nonce (so an ID token is never a logout
// token). A `typ` header, when present, must be logout+jwt or JWT.
func (c *Client) verifyLogoutClaims(ctx context.Context, p *provider, raw string) (*verifiedLogout, error) {
	if _, typ := joseHeader(raw); typ != "" && !strings.EqualFold(typ, "logout+jwt") && !strings.EqualFold(typ, "application/logout+jwt") && !strings.EqualFold(typ, "JWT") {
		return nil, fmt.Errorf("%w: typ %q is not logout+jwt", ErrLogoutToken, short(typ))
	}
	claims, _, err := c.verifySigned(ctx, p, raw, ErrLogoutToken)
	if err != nil {
		return nil, err
	}
	if err := c.checkTokenClaims(claims, ErrLogoutToken, false, true); err != nil {
		return nil, err
	}
	if _, ok := claims["nonce"]; ok {
		return nil, fmt.Errorf("%w: a logout token must not carry a nonce", ErrLogoutToken)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events[backchannelLogoutEvent].(map[string]any); !ok {
		return nil, fmt.Errorf("%w: no back-channel logout event", ErrLogoutToken)
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return nil, fmt.Errorf("%w: no jti", ErrLogoutToken)
	}
	sub, subOK := claims["sub"].(string)
	sid, sidOK := claims["sid"].(string)
	if _, has := claims["sub"]; has && !subOK {
		return nil, fmt.Errorf("%w: sub is not a string", ErrLogoutToken)
	}
	if _, has := claims["sid"]; has && !sidOK {
		return nil, fmt.Errorf("%w: sid is not a string", ErrLogoutToken)
	}
	if sub == "" && sid == "" {
		return nil, fmt.Errorf("%w: names neither sub nor sid", ErrLogoutToken)
	}
	iat, _, _ := numericDate(claims, "iat")
	exp, _, _ := numericDate(claims, "exp")
	return &verifiedLogout{
		LogoutToken: LogoutToken{Subject: sub, SID: sid, Issuer: c.cfg.Issuer, IssuedAt: iat},
		jti:         jti,
		expiry:      exp,
	}, nil
}
