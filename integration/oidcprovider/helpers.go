package oidcprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
)

// Hits returns how many requests reached path (for instance PathJWKS or
// PathDiscovery), counting those answered 503 by SetDown. A full URL is
// accepted too; only its path counts.
func (p *Provider) Hits(path string) int {
	if u, err := url.Parse(path); err == nil && u.Host != "" {
		path = u.Path
	}
	p.hitsMu.Lock()
	defer p.hitsMu.Unlock()
	return p.hits[path]
}

// ResetHits sets every request counter back to zero.
func (p *Provider) ResetHits() {
	p.hitsMu.Lock()
	defer p.hitsMu.Unlock()
	clear(p.hits)
}

// SetDown simulates an outage: while down, every request (discovery, JWKS,
// token, login page, ...) is answered 503 Service Unavailable.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// TokenResponse is the JSON answer of the token endpoint.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// ClientCredentialsToken runs the client_credentials grant for a
// confidential client (client_secret_basic) and returns the access token,
// a JWT unless the client has OpaqueAccessTokens.
func (p *Provider) ClientCredentialsToken(ctx context.Context, clientID, secret string, scopes ...string) (string, error) {
	form := url.Values{"grant_type": {string(GrantClientCredentials)}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	tr, err := p.PostToken(ctx, clientID, secret, form)
	if err != nil {
		return "", fmt.Errorf("client_credentials grant for %q: %w", clientID, err)
	}
	return tr.AccessToken, nil
}

// PostToken posts form to the token endpoint, authenticating with
// client_secret_basic when secret is set (otherwise it adds client_id to
// the form, as a public client does), and decodes the answer. A non-200
// answer is an error that includes the body.
func (p *Provider) PostToken(ctx context.Context, clientID, secret string, form url.Values) (*TokenResponse, error) {
	form = maps.Clone(form)
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("posting token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token endpoint answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("decoding token response: %w", err)
	}
	return &tr, nil
}
