package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultHTTPTimeout bounds one call to a provider's token or revocation
// endpoint.
const DefaultHTTPTimeout = 10 * time.Second

// Provider is one upstream OAuth 2.0 provider the vault connects users
// to: the authorization code flow (with PKCE S256 unless turned off),
// refresh (RFC 6749 §6) and revocation (RFC 7009).
type Provider struct {
	// Name is the provider's configured name.
	Name string
	// ClientID and ClientSecret are the gateway's credentials at the
	// provider (an empty secret: a public client).
	ClientID, ClientSecret string
	// AuthURL is the authorization endpoint; TokenURL the token endpoint.
	AuthURL, TokenURL string
	// RevocationURL is the RFC 7009 endpoint; empty: revocation skipped.
	RevocationURL string
	// Issuer, when set, is compared with the `iss` parameter of the
	// authorization response (RFC 9207) when the provider sends one.
	Issuer string
	// Scopes requested.
	Scopes []string
	// AuthParams are extra authorization request parameters.
	AuthParams map[string]string
	// NoPKCE turns PKCE off, for providers that refuse it. Default: on.
	NoPKCE bool
	// ClientSecretPost sends the client credentials in the token
	// request's body (client_secret_post) rather than with HTTP Basic
	// (client_secret_basic, RFC 6749 §2.3.1). Either is used alone: a
	// refused request is never retried the other way, so a refused
	// refresh token is presented once.
	ClientSecretPost bool
	// HTTPClient makes the calls. Default: a client with
	// DefaultHTTPTimeout that follows no redirects.
	HTTPClient *http.Client
}

func (p *Provider) config(redirectURL string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if p.ClientSecretPost || p.ClientSecret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: redirectURL, Scopes: p.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: style},
	}
}

func (p *Provider) client() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return defaultClient
}

var defaultClient = &http.Client{
	Timeout:       DefaultHTTPTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// AuthCodeURL returns the authorization request URL of f, with state
// and (unless NoPKCE) the S256 code challenge.
func (p *Provider) AuthCodeURL(state string, f Flow, redirectURL string) string {
	opts := make([]oauth2.AuthCodeOption, 0, len(p.AuthParams)+2)
	for k, v := range p.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if !p.NoPKCE {
		opts = append(opts, oauth2.SetAuthURLParam("code_challenge", f.Challenge()), oauth2.SetAuthURLParam("code_challenge_method", "S256"))
	}
	return p.config(redirectURL).AuthCodeURL(state, opts...)
}

// Exchange redeems an authorization code (with f's PKCE verifier).
func (p *Provider) Exchange(ctx context.Context, code string, f Flow, redirectURL string) (Tokens, error) {
	var opts []oauth2.AuthCodeOption
	if !p.NoPKCE {
		opts = append(opts, oauth2.VerifierOption(f.Verifier))
	}
	t, err := p.config(redirectURL).Exchange(p.ctx(ctx), code, opts...)
	if err != nil {
		return Tokens{}, p.tokenError("exchanging the code", err)
	}
	return tokensOf(t), nil
}

// Refresh implements Refresher.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	t, err := p.config("").TokenSource(p.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return Tokens{}, p.tokenError("refreshing", err)
	}
	return tokensOf(t), nil
}

// ctx carries the HTTP client to the oauth2 package.
func (p *Provider) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client())
}

// tokenError turns a token endpoint failure into an error without the
// response body: invalid_grant wraps ErrInvalidGrant.
func (p *Provider) tokenError(doing string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode == "invalid_grant" {
			return fmt.Errorf("vault: %s at %s: %w (HTTP %d)", doing, p.Name, ErrInvalidGrant, status)
		}
		return fmt.Errorf("vault: %s at %s: provider error %q (HTTP %d)", doing, p.Name, cleanCode(re.ErrorCode), status)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("vault: %s at %s: %s: %w", doing, p.Name, ue.Op, ue.Err)
	}
	return fmt.Errorf("vault: %s at %s: the answer could not be read", doing, p.Name)
}

// cleanCode bounds an error code from the provider for a log line.
func cleanCode(code string) string {
	if len(code) > 64 {
		code = code[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, code)
}

// tokensOf converts an oauth2 token.
func tokensOf(t *oauth2.Token) Tokens {
	out := Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Expiry: t.Expiry}
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		out.Scopes = strings.Fields(s)
	}
	return out
}

// Revoke revokes token at the provider's revocation endpoint (RFC 7009,
// with the client's credentials and token_type_hint hint). It reports
// false without a revocation endpoint.
func (p *Provider) Revoke(ctx context.Context, token, hint string) (bool, error) {
	if p.RevocationURL == "" || token == "" {
		return false, nil
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if p.ClientSecret == "" || p.ClientSecretPost {
		form.Set("client_id", p.ClientID)
	}
	if p.ClientSecret != "" && p.ClientSecretPost {
		form.Set("client_secret", p.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("vault: revoking at %s: %w", p.Name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.ClientSecret != "" && !p.ClientSecretPost {
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret))
	}
	resp, err := p.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("vault: revoking at %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("vault: revoking at %s: HTTP %d", p.Name, resp.StatusCode)
	}
	return true, nil
}

// CheckIssuer checks the `iss` parameter of an authorization response
// (RFC 9207): when Issuer is set and the response has one, they must
// be equal.
func (p *Provider) CheckIssuer(iss string) error {
	if p.Issuer != "" && iss != "" && iss != p.Issuer {
		return errors.New("vault: the authorization response comes from another issuer")
	}
	return nil
}

// Interface guards
var _ Refresher = (*Provider)(nil)
