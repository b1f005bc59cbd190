package oidcflow

import (
	"context"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

var _ session.Refresher = (*Client)(nil)

// Refresh implements session.Refresher with the provider's token endpoint
// (grant_type=refresh_token). A new ID token in the response is verified
// (signature, iss, aud, exp) and must name the same subject. Errors wrap
// session.ErrRefreshTransient when retrying may help (provider
// unreachable, 5xx, 429, discovery failing); otherwise the provider
// refused (invalid_grant: revoked or expired refresh token) and the
// session ends.
func (c *Client) Refresh(ctx context.Context, subject, refreshToken string) (session.Tokens, error) {
	p, err := c.provider(ctx)
	if err != nil {
		return session.Tokens{}, fmt.Errorf("%w: %w", session.ErrRefreshTransient, err)
	}
	ctx = oidc.ClientContext(ctx, c.cfg.HTTPClient)
	// An expired token with only the refresh token makes the token source
	// refresh at once.
	src := c.oauth2Config(p).TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		msg, transient := tokenEndpointError(err)
		if transient {
			return session.Tokens{}, fmt.Errorf("oidcflow: refresh: %s: %w", msg, session.ErrRefreshTransient)
		}
		return session.Tokens{}, fmt.Errorf("oidcflow: refresh refused: %s", msg)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID != "" {
		idt, err := p.verifier.Verify(ctx, rawID)
		if err != nil {
			return session.Tokens{}, fmt.Errorf("oidcflow: refresh: %w: %s", ErrIDToken, firstLine(err.Error()))
		}
		if idt.Subject != subject {
			return session.Tokens{}, fmt.Errorf("oidcflow: refresh: %w: the subject changed", ErrIDToken)
		}
	}
	return tokensOf(tok, rawID, c.now()), nil
}
