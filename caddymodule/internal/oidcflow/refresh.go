package oidcflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

var _ session.Refresher = (*Client)(nil)

// Refresh implements session.Refresher with the provider's token endpoint
// (grant_type=refresh_token), then brings the session's claims up to
// date: a new ID token in the response is verified (signature, iss, aud,
// exp) and must name the same subject, and UserInfo is called with the
// new access token (unless disabled), so a group removed at the provider
// is gone after the next refresh. The authentication itself (auth_time,
// acr, amr, sid) stays the login's: a refresh does not authenticate the
// user again (OIDC Core §12.2).
//
// Errors wrap session.ErrRefreshTransient when retrying may help
// (provider unreachable, 5xx, 429, discovery failing, and a client the
// provider refuses, which is a configuration problem reported through
// Config.OnProblem rather than a reason to end every session); otherwise
// ErrRefreshRefused (invalid_grant: revoked or expired refresh token),
// ErrIDToken or ErrUserInfo, and the session ends. When the tokens were
// renewed but UserInfo is unreachable, the new tokens are kept (the old
// refresh token may be spent) with the current claims.
//
// req.Subject must be the ID token's `sub` (the caller strips any
// namespace it added).
func (c *Client) Refresh(ctx context.Context, req session.RefreshRequest) (session.Refreshed, error) {
	var none session.Refreshed
	subject, cur, claims := req.Subject, req.Tokens, req.Claims
	p, err := c.provider(ctx)
	if err != nil {
		return none, fmt.Errorf("%w: %w", session.ErrRefreshTransient, err)
	}
	// An expired token with only the refresh token makes the token source
	// refresh at once.
	src := c.oauth2Config(p).TokenSource(c.clientContext(ctx), &oauth2.Token{RefreshToken: cur.RefreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		err = c.tokenError(ErrRefreshRefused, err)
		if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrMisconfigured) {
			return none, fmt.Errorf("oidcflow: refresh: %w: %w", err, session.ErrRefreshTransient)
		}
		return none, fmt.Errorf("oidcflow: refresh: %w", err)
	}
	c.problems.resolved(componentToken)
	out := session.Refreshed{Tokens: tokensOf(tok, "", c.now())}
	if out.Tokens.Scope == "" { // RFC 6749 §6: omitted, the scope is the one granted before
		out.Tokens.Scope = req.Tokens.Scope
	}
	base := withoutNames(claims.Raw, claims.UserInfoClaims)
	rawID, _ := tok.Extra("id_token").(string)
	if rawID != "" {
		idt, err := c.verifyIDToken(ctx, p, rawID)
		if err != nil && errors.Is(err, ErrUnavailable) {
			// The keys cannot be fetched: keep the renewed tokens (the old
			// refresh token may be spent), without the unverified ID
			// token, and the claims as they were.
			return out, nil
		}
		if err != nil {
			return none, fmt.Errorf("oidcflow: refresh: %w", c.trustError(componentIDToken, err))
		}
		if idt.subject != subject {
			return none, fmt.Errorf("oidcflow: refresh: %w: the subject changed", ErrIDToken)
		}
		out.Tokens.IDToken = rawID
		base = idt.claims
	}
	merged, names, err := c.withUserInfo(ctx, p, tok, subject, base)
	switch {
	case err != nil && errors.Is(err, ErrUnavailable):
		return out, nil // keep the renewed tokens; claims as they were
	case err != nil:
		return none, fmt.Errorf("oidcflow: refresh: %w", err)
	case rawID == "" && names == nil:
		return out, nil // nothing new about the user
	}
	next := c.mapClaims(merged)
	next.UserInfoClaims = names
	next.AuthTime, next.ACR, next.AMR, next.SID = claims.AuthTime, claims.ACR, claims.AMR, claims.SID
	for _, k := range []string{"auth_time", "acr", "amr", "sid"} {
		if v, ok := claims.Raw[k]; ok {
			next.Raw[k] = v
		} else {
			delete(next.Raw, k)
		}
	}
	out.Claims = &next
	return out, nil
}

// withoutNames returns a copy of raw without names.
func withoutNames(raw map[string]any, names []string) map[string]any {
	out := maps.Clone(raw)
	if out == nil {
		out = map[string]any{}
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}
