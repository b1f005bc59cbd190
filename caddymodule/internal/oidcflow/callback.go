package oidcflow

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Result is what a successful callback yields.
type Result struct {
	// Login is what session.Manager.Create needs.
	Login session.Login
	// ReturnTo is the validated same-origin path to continue to (serve it
	// with LandingPage, not a 302, when the session cookie is
	// SameSite=Strict).
	ReturnTo string
	// SetCookies delete the flow cookies; set them on the response. On
	// error Callback returns a Result carrying only these.
	SetCookies []*http.Cookie
}

// Callback completes a login at the redirect URI: it checks the state
// against the flow cookie (constant time) and consumes it in the store
// (single use, so a replayed callback fails even with the same cookie),
// exchanges the code with the PKCE verifier, verifies the ID token
// (signature, iss, aud, exp, nonce, at_hash when present, auth_time when
// max_age was requested) and maps its claims.
//
// It always returns a non-nil Result whose SetCookies the adapter sets;
// on error only those. Errors: ErrStateMismatch, ErrFlowExpired,
// ErrFlowReplayed, *ProviderError, ErrExchange, ErrIDToken (and
// ErrNonceMismatch), ErrUnavailable.
func (c *Client) Callback(ctx context.Context, r *http.Request) (*Result, error) {
	res := &Result{SetCookies: c.clearFlowCookies(r)}
	login, returnTo, err := c.callback(ctx, r)
	if err != nil {
		return res, err
	}
	res.Login, res.ReturnTo = login, returnTo
	return res, nil
}

func (c *Client) callback(ctx context.Context, r *http.Request) (session.Login, string, error) {
	var none session.Login
	if r.Method != http.MethodGet {
		return none, "", fmt.Errorf("%w (callback must be a GET)", ErrStateMismatch)
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		return none, "", fmt.Errorf("%w (no state)", ErrStateMismatch)
	}
	fs, err := c.readFlow(r, state)
	if err != nil {
		return none, "", err
	}
	// Single use: whoever takes the state record first wins.
	if _, err := c.cfg.Store.GetDel(ctx, c.flowKey(state)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return none, "", ErrFlowReplayed
		}
		return none, "", fmt.Errorf("%w: consuming login state: %w", ErrUnavailable, err)
	}
	if code := q.Get("error"); code != "" {
		return none, "", &ProviderError{Code: safeCode(code)}
	}
	code := q.Get("code")
	if code == "" {
		return none, "", fmt.Errorf("%w (no code)", ErrExchange)
	}
	p, err := c.provider(ctx)
	if err != nil {
		return none, "", err
	}
	tok, err := c.oauth2Config(p).Exchange(oidc.ClientContext(ctx, c.cfg.HTTPClient), code, oauth2.VerifierOption(fs.Verifier))
	if err != nil {
		msg, transient := tokenEndpointError(err)
		if transient {
			return none, "", fmt.Errorf("%w: %s", ErrUnavailable, msg)
		}
		return none, "", fmt.Errorf("%w: %s", ErrExchange, msg)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return none, "", fmt.Errorf("%w: the token response has no id_token", ErrIDToken)
	}
	idt, err := p.verifier.Verify(oidc.ClientContext(ctx, c.cfg.HTTPClient), rawID)
	if err != nil {
		return none, "", fmt.Errorf("%w: %s", ErrIDToken, firstLine(err.Error()))
	}
	if !constantTimeEqual(idt.Nonce, fs.Nonce) {
		return none, "", ErrNonceMismatch
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return none, "", fmt.Errorf("%w: at_hash does not match the access token", ErrIDToken)
		}
	}
	claims, err := c.mapClaims(idt)
	if err != nil {
		return none, "", err
	}
	if fs.MaxAge > 0 {
		if claims.AuthTime.IsZero() {
			return none, "", fmt.Errorf("%w: max_age was requested but the ID token has no auth_time", ErrIDToken)
		}
		if age := c.now().Sub(claims.AuthTime); age > time.Duration(fs.MaxAge)*time.Second+c.cfg.ClockSkew {
			return none, "", fmt.Errorf("%w: auth_time is older than the requested max_age", ErrIDToken)
		}
	}
	login := session.Login{
		Subject: idt.Subject,
		Claims:  claims,
		Tokens:  tokensOf(tok, rawID, c.now()),
	}
	return login, SafeReturnPath(fs.ReturnTo), nil
}

// tokensOf converts an OAuth token response.
func tokensOf(tok *oauth2.Token, rawID string, now time.Time) session.Tokens {
	return session.Tokens{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.Type(),
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		Expiry:       tok.Expiry,
		Obtained:     now,
	}
}

// constantTimeEqual compares two secrets in time independent of where
// they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
