// Package assertion signs short-lived identity assertions: JWTs (ES256)
// that tell a backend who called, so it can verify the caller with the
// gateway's public keys instead of trusting request headers.
package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// DefaultTTL is the lifetime of an assertion.
const DefaultTTL = time.Minute

// maxCached bounds the signature cache.
const maxCached = 10000

// Signer signs assertions with the first of its keys and publishes all
// of them, so keys rotate without breaking verifiers: add the new key
// second, wait for verifiers to refresh, then move it first.
type Signer struct {
	issuer string
	ttl    time.Duration
	keys   []key
	signer jose.Signer
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type key struct {
	priv *ecdsa.PrivateKey
	kid  string
}

type cached struct {
	token   string
	expires time.Time
}

// Options configure a Signer.
type Options struct {
	// Issuer is the `iss` of assertions (the gateway's URL). Required.
	Issuer string
	// TTL is the assertions' lifetime. Default: DefaultTTL.
	TTL time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// ParseKey reads an EC P-256 private key from PEM (SEC 1 "EC PRIVATE
// KEY" or PKCS #8 "PRIVATE KEY").
func ParseKey(pemData []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("assertion: key is not PEM")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("assertion: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("assertion: parsing key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("assertion: key must be an EC P-256 key (openssl ecparam -name prime256v1 -genkey)")
	}
	return ec, nil
}

// NewSigner returns a signer using keys[0] to sign.
func NewSigner(keys []*ecdsa.PrivateKey, o Options) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("assertion: at least one signing key is required")
	}
	if o.Issuer == "" {
		return nil, errors.New("assertion: issuer is required")
	}
	s := &Signer{issuer: o.Issuer, ttl: o.TTL, now: o.Now, cache: map[string]cached{}}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, k := range keys {
		jwk := jose.JSONWebKey{Key: k.Public(), Algorithm: string(jose.ES256), Use: "sig"}
		thumb, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("assertion: key thumbprint: %w", err)
		}
		s.keys = append(s.keys, key{priv: k, kid: hex.EncodeToString(thumb[:8])})
	}
	var err error
	s.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: keys[0], KeyID: s.keys[0].kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("assertion: making signer: %w", err)
	}
	return s, nil
}

// JWKS returns the public keys as a JSON Web Key Set.
func (s *Signer) JWKS() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	return set
}

// claims are the assertion's claims.
type claims struct {
	jwt.Claims
	Email  string   `json:"email,omitempty"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Scope  string   `json:"scope,omitempty"`
	Method string   `json:"auth_method,omitempty"`
	KeyID  string   `json:"key_id,omitempty"`
}

// Sign returns an assertion for p addressed to audience. Signatures are
// cached per principal and audience for half their lifetime, so a busy
// caller does not cost a signature per request.
func (s *Signer) Sign(p principal.Principal, audience string) (string, error) {
	now := s.now()
	ck := cacheKey(p, audience)
	s.mu.Lock()
	if c, ok := s.cache[ck]; ok && now.Before(c.expires) {
		s.mu.Unlock()
		return c.token, nil
	}
	s.mu.Unlock()

	c := claims{
		Claims: jwt.Claims{
			Issuer: s.issuer, Subject: p.Subject, Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			Expiry: jwt.NewNumericDate(now.Add(s.ttl)),
		},
		Email: p.Email, Name: p.Name, Groups: p.Groups, Scope: strings.Join(p.Scopes, " "),
		Method: string(p.Method), KeyID: p.KeyID,
	}
	token, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("assertion: signing: %w", err)
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		for k, v := range s.cache {
			if !now.Before(v.expires) || len(s.cache) >= maxCached {
				delete(s.cache, k)
			}
		}
	}
	s.cache[ck] = cached{token: token, expires: now.Add(s.ttl / 2)}
	s.mu.Unlock()
	return token, nil
}

// cacheKey identifies what an assertion says.
func cacheKey(p principal.Principal, audience string) string {
	h := sha256.New()
	for _, f := range []string{audience, p.Subject, string(p.Method), p.KeyID, p.Email, p.Name,
		strings.Join(p.Groups, "\x00"), strings.Join(p.Scopes, "\x00"), p.SessionID} {
		h.Write([]byte(f))
		h.Write([]byte{0xff})
	}
	return string(h.Sum(nil))
}
