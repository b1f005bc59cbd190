package oidcflow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// LogoutURL returns the provider's RP-initiated logout URL
// (OpenID Connect RP-Initiated Logout 1.0): end_session_endpoint with
// id_token_hint (when idTokenHint is set), client_id,
// post_logout_redirect_uri (Config.PostLogoutRedirectURL, when set) and
// state (when set). The URL carries the ID token: send the browser there
// with ProviderRedirectPage rather than a Location header, which access
// logs record. Errors: ErrUnavailable, ErrNoEndSession (then just end the
// local session and go to the post-logout page).
func (c *Client) LogoutURL(ctx context.Context, idTokenHint, state string) (string, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return "", err
	}
	if p.endSession == "" {
		return "", ErrNoEndSession
	}
	u, err := url.Parse(p.endSession)
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
// (OpenID Connect Back-Channel Logout 1.0, section 2.6) with go-oidc's
// VerifyLogout: signature with the provider's keys, iss, aud (our
// client id), exp, jti present, the back-channel logout event, sub or
// sid present, no nonce. It also refuses tokens whose iat is more than
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
	lt, err := p.verifier.VerifyLogout(oidc.ClientContext(ctx, c.cfg.HTTPClient), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrLogoutToken, firstLine(err.Error()))
	}
	now := c.now()
	switch {
	case lt.IssuedAt.IsZero():
		return nil, fmt.Errorf("%w: no iat", ErrLogoutToken)
	case lt.IssuedAt.After(now.Add(c.cfg.ClockSkew)):
		return nil, fmt.Errorf("%w: issued in the future", ErrLogoutToken)
	case now.Sub(lt.IssuedAt) > c.cfg.LogoutTokenMaxAge:
		return nil, fmt.Errorf("%w: issued too long ago", ErrLogoutToken)
	}
	// Remember the jti for as long as the token would be accepted.
	ttl := max(lt.Expiry.Sub(now), lt.IssuedAt.Add(c.cfg.LogoutTokenMaxAge).Sub(now)) + c.cfg.ClockSkew
	fresh, err := c.cfg.Store.SetNX(ctx, c.jtiKey(lt.Issuer, lt.TokenID), []byte{1}, ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: recording logout token: %w", ErrUnavailable, err)
	}
	if !fresh {
		return nil, ErrLogoutReplayed
	}
	if lt.Subject == "" && lt.SessionID == "" {
		return nil, errors.New("oidcflow: logout token names neither sub nor sid") // checked by go-oidc
	}
	return &LogoutToken{Subject: lt.Subject, SID: lt.SessionID, Issuer: lt.Issuer, IssuedAt: lt.IssuedAt}, nil
}
