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

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// provider is what discovery yields: the metadata, the OAuth endpoint
// and the key set that verifies ID tokens and logout tokens.
type provider struct {
	meta     *Metadata
	endpoint oauth2.Endpoint
	keys     *jwtauth.KeySet
	algs     []string // accepted ID token algorithms
	issuer   string
}

// discovery fetches the provider lazily, once, with backoff on failure.
type discovery struct {
	c *Client

	mu       sync.Mutex
	p        *provider
	failures int
	retryAt  time.Time
	lastErr  error         // of the last failed attempt, returned during its backoff
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
			last := d.lastErr
			d.mu.Unlock()
			return nil, fmt.Errorf("%w (next attempt in %v)", last, d.retryAt.Sub(now).Round(time.Second))
		}
		ch := make(chan struct{})
		d.inflight = ch
		d.mu.Unlock()

		// The attempt outlives a canceled request: its result serves
		// everyone.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DiscoveryTimeout)
		p, err := c.discover(actx)
		cancel()

		if err != nil && !errors.Is(err, ErrMisconfigured) && !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		d.mu.Lock()
		d.inflight = nil
		if err == nil {
			d.p, d.failures, d.lastErr = p, 0, nil
		} else {
			d.failures++
			d.retryAt = c.now().Add(backoff(d.failures, c.cfg.MinBackoff, c.cfg.MaxBackoff))
			d.lastErr = err
		}
		d.mu.Unlock()
		close(ch)
		if err != nil {
			c.problems.report(componentDiscovery, err)
			return nil, err
		}
		c.problems.resolved(componentDiscovery)
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

// allowedAlgs are the signing algorithms accepted for ID, logout and
// signed UserInfo tokens: asymmetric only (no HS*, no none), including
// RFC 9864's fully-specified Ed25519.
var allowedAlgs = []string{
	"RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
	"PS256", "PS384", "PS512", "EdDSA", "Ed25519",
}

// AcceptedAlgorithms returns the ID token signature algorithms the
// gateway accepts, for reports (a copy).
func AcceptedAlgorithms() []string { return slices.Clone(allowedAlgs) }

// discover fetches the discovery document and builds the provider.
func (c *Client) discover(ctx context.Context) (*provider, error) {
	meta, err := FetchMetadata(ctx, c.cfg.HTTPClient, c.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	ep := oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint}
	ep.AuthStyle = authStyle(c.cfg.ClientSecret, meta.TokenEndpointAuthMethods)
	// OIDC Discovery: RS256 is the default when the list is absent. A
	// list with none of ours is a provider we cannot verify.
	algs := []string{"RS256"}
	if len(meta.IDTokenSigningAlgs) > 0 {
		algs = slices.DeleteFunc(slices.Clone(meta.IDTokenSigningAlgs), func(a string) bool { return !slices.Contains(allowedAlgs, a) })
		if len(algs) == 0 {
			return nil, fmt.Errorf("%w: the provider signs ID tokens only with %s; the gateway accepts %s", ErrMisconfigured,
				strings.Join(meta.IDTokenSigningAlgs, ", "), strings.Join(allowedAlgs, ", "))
		}
	}
	for _, a := range meta.UserinfoSigningAlgs {
		if slices.Contains(allowedAlgs, a) && !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	// One key cache for ID tokens, logout tokens and signed UserInfo,
	// with jwtauth's rules: logout tokens can be posted by anyone, so no
	// token may evict a key, a kid in the cached set is never refetched,
	// and a kid it lacks waits for the next rate-limited refetch instead
	// of failing (a forged token cannot make a genuine one fail).
	verifier, err := jwtauth.New(jwtauth.Options{
		Issuers: []jwtauth.Config{{
			Issuer: c.cfg.Issuer, JWKSURL: meta.JWKSURI, Audiences: []string{c.cfg.ClientID},
			Algorithms: algs, ClockSkew: new(c.skew),
		}},
		HTTPClient: c.cfg.HTTPClient, Now: c.now, After: c.cfg.After,
		UnknownKeyCooldown: c.cfg.KeyCooldown, CacheSize: -1,
		MaxTokenBytes: maxIDTokenBytes, // logout tokens are bounded before
		OnFetch:       c.onKeyFetch,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: discovery document jwks_uri: %w", ErrMisconfigured, err)
	}
	return &provider{meta: meta, endpoint: ep, keys: verifier.KeySet(c.cfg.Issuer), algs: algs, issuer: c.cfg.Issuer}, nil
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

// firstLine returns s up to its first newline and at most 200 bytes
// (provider error bodies can be long).
func firstLine(s string) string { return oneLine(s, 200) }

// oneLine returns s up to its first newline and at most n bytes.
func oneLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// clientContext carries the provider HTTP client for golang.org/x/oauth2.
func (c *Client) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient)
}

// onKeyFetch reports key set fetch failures (and recoveries) as
// problems.
func (c *Client) onKeyFetch(e jwtauth.FetchEvent) {
	if e.OK {
		c.problems.resolved(componentJWKS)
		return
	}
	cause := "key set " + e.URL
	switch {
	case e.Err != nil:
		cause += ": " + lastPart(e.Err)
	case e.Status != 0:
		cause += fmt.Sprintf(" answered %d", e.Status)
	}
	c.problems.reportAs(componentJWKS, ReasonUnavailable, cause)
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
