package oidcflow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// provider is what discovery yields: endpoints and a verifier.
type provider struct {
	endpoint   oauth2.Endpoint
	verifier   *oidc.IDTokenVerifier // ID tokens and logout tokens
	endSession string                // end_session_endpoint, "" if none
	issuer     string
}

// discovery fetches the provider lazily, once, with backoff on failure.
type discovery struct {
	c *Client

	mu       sync.Mutex
	p        *provider
	failures int
	retryAt  time.Time
	inflight chan struct{} // closed when the running attempt ends
}

func (d *discovery) init(c *Client) { d.c = c }

// provider returns the discovered provider, discovering it if needed. It
// returns ErrUnavailable while discovery fails (and until the backoff
// after a failure has passed, without trying). Concurrent callers share
// one attempt.
func (c *Client) provider(ctx context.Context) (*provider, error) {
	d := &c.disc
	for {
		d.mu.Lock()
		if d.p != nil {
			p := d.p
			d.mu.Unlock()
			return p, nil
		}
		if ch := d.inflight; ch != nil {
			d.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
			}
		}
		if now := c.now(); now.Before(d.retryAt) {
			d.mu.Unlock()
			return nil, fmt.Errorf("%w: discovery failed, next attempt in %v", ErrUnavailable, d.retryAt.Sub(now).Round(time.Second))
		}
		ch := make(chan struct{})
		d.inflight = ch
		d.mu.Unlock()

		// The attempt outlives a canceled request: its result serves
		// everyone.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DiscoveryTimeout)
		p, err := c.discover(actx)
		cancel()

		d.mu.Lock()
		d.inflight = nil
		if err == nil {
			d.p, d.failures = p, 0
		} else {
			d.failures++
			d.retryAt = c.now().Add(backoff(d.failures, c.cfg.MinBackoff, c.cfg.MaxBackoff))
		}
		d.mu.Unlock()
		close(ch)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return p, nil
	}
}

// backoff returns the wait after n consecutive failures: min doubling up
// to max.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Ready discovers the provider if not yet done and reports whether it is
// usable (for health checks and warm-up; never needed before other calls).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.provider(ctx)
	return err
}

// allowedAlgs are the signing algorithms accepted for ID and logout
// tokens: asymmetric only (no HS*, no none).
var allowedAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discover fetches the discovery document and builds the provider.
func (c *Client) discover(ctx context.Context) (*provider, error) {
	ctx = oidc.ClientContext(ctx, c.cfg.HTTPClient)
	op, err := oidc.NewProvider(ctx, c.cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("oidcflow: discovery: issuer mismatch (configured %q, provider says %q)", mismatch.Provided, mismatch.Discovered)
		}
		return nil, fmt.Errorf("oidcflow: discovery of %s: %s", c.cfg.Issuer, firstLine(err.Error()))
	}
	var meta struct {
		JWKSURI    string   `json:"jwks_uri"`
		EndSession string   `json:"end_session_endpoint"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		AuthMeths  []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidcflow: discovery document: %w", err)
	}
	ep := op.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" || meta.JWKSURI == "" {
		return nil, errors.New("oidcflow: discovery document lacks authorization_endpoint, token_endpoint or jwks_uri")
	}
	ep.AuthStyle = authStyle(c.cfg.ClientSecret, meta.AuthMeths)
	algs := slices.DeleteFunc(slices.Clone(meta.Algs), func(a string) bool { return !slices.Contains(allowedAlgs, a) })
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	// One key cache for ID tokens and back-channel logout tokens, with
	// jwtauth's rules: logout tokens can be posted by anyone, so no token
	// may evict a key, a kid in the cached set is never refetched, and a
	// kid it lacks waits for the next rate-limited refetch instead of
	// failing (a forged token cannot make a genuine one fail).
	keys, err := jwtauth.New(jwtauth.Options{
		Issuers: []jwtauth.Config{{
			Issuer: c.cfg.Issuer, JWKSURL: meta.JWKSURI, Audiences: []string{c.cfg.ClientID},
			Algorithms: algs, ClockSkew: new(c.cfg.ClockSkew),
		}},
		HTTPClient: c.cfg.HTTPClient, Now: c.now, After: c.cfg.After,
		UnknownKeyCooldown: c.cfg.KeyCooldown, CacheSize: -1,
		MaxTokenBytes: maxIDTokenBytes, // logout tokens are bounded before
	})
	if err != nil {
		return nil, fmt.Errorf("oidcflow: discovery document jwks_uri: %w", err)
	}
	vcfg := &oidc.Config{ClientID: c.cfg.ClientID, SupportedSigningAlgs: algs, Now: c.now}
	v := oidc.NewVerifier(c.cfg.Issuer, keys.KeySet(c.cfg.Issuer), vcfg)
	return &provider{endpoint: ep, verifier: v, endSession: meta.EndSession, issuer: c.cfg.Issuer}, nil
}

// maxIDTokenBytes bounds an ID token (from the token endpoint, over
// TLS): larger than a bearer token may be, for providers that put many
// groups in it.
const maxIDTokenBytes = 256 << 10

// authStyle picks how the client authenticates at the token endpoint:
// HTTP Basic (client_secret_basic, the OpenID default) unless the
// provider only lists client_secret_post; a public client (no secret)
// sends its client_id in the body.
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// firstLine returns s up to its first newline (provider error bodies can
// be long).
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// hashString returns base64url(SHA-256(domain NUL s)), for store keys
// that must not reveal what they index.
func hashString(domain, s string) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
