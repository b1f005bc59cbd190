package caddymodule

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/assertion"
)

// AssertionJWKSPath is where the public keys of signed identity
// assertions are served, on every route that uses the handler.
const AssertionJWKSPath = "/.well-known/portcullis/jwks.json"

// DefaultAssertionHeader carries the signed identity assertion upstream.
const DefaultAssertionHeader = "X-Auth-Assertion"

// AssertionConfig configures signed identity assertions: short-lived
// ES256 JWTs a backend can verify with the keys served at
// /.well-known/portcullis/jwks.json.
type AssertionConfig struct {
	// Keys are PEM EC P-256 private keys, normally `{file./path/key.pem}`.
	// The first signs; all are published, so a key is rotated by adding
	// the new one second, then moving it first. Required.
	Keys []string `json:"keys,omitempty"`
	// Issuer is the `iss` claim, the gateway's public URL. Required.
	Issuer string `json:"issuer,omitempty"`
	// TTL is the assertions' lifetime. Default: 1m.
	TTL caddy.Duration `json:"ttl,omitempty"`
}

// AssertionRoute asks a route to send a signed identity assertion.
type AssertionRoute struct {
	// Audience is the `aud` claim: the backend the assertion is for. Required.
	Audience string `json:"audience,omitempty"`
	// Header carries the assertion. Default: `X-Auth-Assertion`.
	Header string `json:"header,omitempty"`
}

// signer resolves the keys and builds the assertion signer.
func (c *AssertionConfig) signer() (*assertion.Signer, error) {
	if c.Issuer == "" {
		return nil, fmt.Errorf("assertion: issuer is required")
	}
	if len(c.Keys) == 0 {
		return nil, fmt.Errorf("assertion: at least one key is required (e.g. key {file./etc/portcullis/assertion.pem})")
	}
	keys := make([]*ecdsa.PrivateKey, 0, len(c.Keys))
	for i, k := range c.Keys {
		pem, err := resolveSecret(fmt.Sprintf("assertion: key %d", i+1), k)
		if err != nil {
			return nil, err
		}
		key, err := assertion.ParseKey([]byte(pem))
		if err != nil {
			return nil, fmt.Errorf("assertion: key %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return assertion.NewSigner(keys, assertion.Options{Issuer: c.Issuer, TTL: time.Duration(c.TTL)})
}

// serveJWKS answers the assertion public keys.
func (a *App) serveJWKS(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(a.signer.JWKS())
}

// unmarshal reads `assertion { key <pem…>; issuer <url>; ttl <duration> }`.
func (c *AssertionConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(1) {
		var err error
		switch d.Val() {
		case "key":
			c.Keys = append(c.Keys, d.RemainingArgs()...)
		case "issuer":
			err = stringArg(d, &c.Issuer)
		case "ttl":
			c.TTL, err = durationArg(d)
		default:
			return d.Errf("unrecognized assertion subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if _, err := c.signer(); err != nil {
		return at(err)
	}
	return nil
}
