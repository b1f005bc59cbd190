package oidcflow

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Result is what a successful callback yields.
type Result struct {
	// Login is what session.Manager.Create needs.
	Login session.Login
	// ReturnTo is where to continue, validated by Config.Return: a path,
	// or a URL on a host of the domain (serve it with a landing page, not
	// a 302, when the session cookie is SameSite=Strict).
	ReturnTo string
	// Remember reports that the login asked for a remembered session.
	Remember bool
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
	login, fs, err := c.callback(ctx, r)
	if err != nil {
		return res, err
	}
	res.Login, res.ReturnTo, res.Remember = login, c.cfg.Return.Safe(fs.ReturnTo), fs.Remember
	return res, nil
}

func (c *Client) callback(ctx context.Context, r *http.Request) (session.Login, *flowState, error) {
	var none session.Login
	if r.Method != http.MethodGet {
		return none, nil, fmt.Errorf("%w (callback must be a GET)", ErrStateMismatch)
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		return none, nil, fmt.Errorf("%w (no state)", ErrStateMismatch)
	}
	fs, err := c.readFlow(r, state)
	if err != nil {
		return none, nil, err
	}
	// Single use: whoever takes the state record first wins.
	if _, err := c.cfg.Store.GetDel(ctx, c.flowKey(state)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return none, nil, ErrFlowReplayed
		}
		return none, nil, fmt.Errorf("%w: consuming login state: %w", ErrUnavailable, err)
	}
	p, err := c.provider(ctx)
	if err != nil {
		return none, nil, err
	}
	// RFC 9207: the authorization response names its issuer, checked
	// before anything else in it (error responses included), so a
	// response from another provider (mix-up) is never processed.
	if err := checkResponseIssuer(q, p); err != nil {
		return none, nil, err
	}
	if code := q.Get("error"); code != "" {
		return none, nil, &ProviderError{Code: safeCode(code)}
	}
	code := q.Get("code")
	if code == "" {
		return none, nil, fmt.Errorf("%w (no code)", ErrExchange)
	}
	tok, err := c.oauth2Config(p).Exchange(c.clientContext(ctx), code, oauth2.VerifierOption(fs.Verifier))
	if err != nil {
		return none, nil, c.tokenError(ErrExchange, err)
	}
	c.problems.resolved(componentToken)
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return none, nil, c.trustError(componentIDToken, fmt.Errorf("%w: the token response has no id_token", ErrIDToken))
	}
	idt, err := c.verifyIDToken(ctx, p, rawID)
	if err != nil {
		return none, nil, c.trustError(componentIDToken, err)
	}
	if !constantTimeEqual(idt.nonce, fs.Nonce) {
		return none, nil, ErrNonceMismatch
	}
	if v, present := idt.claims["at_hash"]; present {
		atHash, _ := v.(string)
		if err := verifyAccessTokenHash(idt.alg, atHash, tok.AccessToken); err != nil {
			return none, nil, c.trustError(componentIDToken, err)
		}
	}
	c.problems.resolved(componentIDToken)
	raw, uiKeys, err := c.withUserInfo(ctx, p, tok, idt.subject, idt.claims)
	if err != nil {
		return none, nil, err
	}
	claims := c.mapClaims(raw)
	claims.UserInfoClaims = uiKeys
	if fs.MaxAge > 0 {
		if claims.AuthTime.IsZero() {
			return none, nil, fmt.Errorf("%w: max_age was requested but the ID token has no auth_time", ErrIDToken)
		}
		if age := c.now().Sub(claims.AuthTime); age > time.Duration(fs.MaxAge)*time.Second+c.skew {
			return none, nil, fmt.Errorf("%w: auth_time is older than the requested max_age", ErrIDToken)
		}
	}
	c.checkRefreshIssued(tok)
	login := session.Login{
		Subject: idt.subject,
		Claims:  claims,
		Tokens:  tokensOf(tok, rawID, c.now()),
	}
	return login, fs, nil
}

// checkResponseIssuer applies RFC 9207 to the callback's query: an `iss`
// parameter, when present, must be sent once and equal the issuer byte
// for byte; a provider whose metadata advertises
// authorization_response_iss_parameter_supported must send it.
func checkResponseIssuer(q url.Values, p *provider) error {
	iss, present := q["iss"]
	switch {
	case !present && p.meta.AuthorizationResponseIssParameterSupported:
		return fmt.Errorf("%w: the provider advertises RFC 9207 but the response has no iss", ErrIssuerMismatch)
	case !present:
		return nil
	case len(iss) != 1 || iss[0] != p.issuer:
		return fmt.Errorf("%w: the response's iss is not the configured issuer", ErrIssuerMismatch)
	}
	return nil
}

// checkRefreshIssued reports, once, a provider that issued no refresh
// token although the configuration asked for one.
func (c *Client) checkRefreshIssued(tok *oauth2.Token) {
	if !c.params.expectRefresh {
		return
	}
	if tok.RefreshToken != "" {
		c.problems.resolved(componentRefreshToken)
		return
	}
	how := "access_type=offline"
	if slices.Contains(c.cfg.Scopes, "offline_access") {
		how = "scope offline_access"
	}
	if len(c.params.prompt) > 0 {
		how += ", prompt " + strings.Join(c.params.prompt, " ")
	}
	c.problems.reportAs(componentRefreshToken, ReasonNoRefreshToken,
		"the provider issued no refresh token although one was requested ("+how+
			"): sessions will not be refreshed, so a revocation at the provider is noticed only when the session's absolute timeout ends it")
}

// trustError reports err (a token from the provider we could not trust)
// as a problem of component and returns it.
func (c *Client) trustError(component string, err error) error {
	if !errors.Is(err, ErrUnavailable) {
		c.problems.report(component, err)
	}
	return err
}

// tokenError classifies a token endpoint failure: transient ones are
// ErrUnavailable, a refused client (invalid_client, unauthorized_client)
// is ErrMisconfigured, the rest wrap kind. Outages and misconfiguration
// are reported as problems.
func (c *Client) tokenError(kind error, err error) error {
	msg, class := tokenEndpointError(err)
	var out error
	switch class {
	case tokenTransient:
		out = fmt.Errorf("%w: %s", ErrUnavailable, msg)
	case tokenClientRefused:
		out = fmt.Errorf("%w: the token endpoint refuses this client (check client_id and client_secret): %s", ErrMisconfigured, msg)
	default:
		return fmt.Errorf("%w: %s", kind, msg)
	}
	c.problems.report(componentToken, out)
	return out
}

// tokensOf converts an OAuth token response.
func tokensOf(tok *oauth2.Token, rawID string, now time.Time) session.Tokens {
	scope, _ := tok.Extra("scope").(string) // the granted scopes, RFC 6749 §5.1
	return session.Tokens{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.Type(),
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		Expiry:       tok.Expiry,
		Obtained:     now,
		Scope:        strings.Join(strings.Fields(scope), " "),
	}
}

// constantTimeEqual compares two secrets in time independent of where
// they differ.
func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
