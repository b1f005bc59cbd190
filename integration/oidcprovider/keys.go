package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// rsaKeyBits is the size of the generated signing keys.
const rsaKeyBits = 2048

// rsaKey is one RS256 key pair; it serves both as op.SigningKey (private
// half) and, through publicKey, as an op.Key in the JWKS.
type rsaKey struct {
	id   string
	priv *rsa.PrivateKey
}

// SignatureAlgorithm implements op.SigningKey.
func (k *rsaKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }

// Key implements op.SigningKey: the private key.
func (k *rsaKey) Key() any { return k.priv }

// ID implements op.SigningKey: the key ID ("kid").
func (k *rsaKey) ID() string { return k.id }

// publicKey is the public half of an rsaKey, as published in the JWKS.
type publicKey struct{ k *rsaKey }

// ID implements op.Key.
func (p publicKey) ID() string { return p.k.id }

// Algorithm implements op.Key.
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }

// Use implements op.Key.
func (p publicKey) Use() string { return "sig" }

// Key implements op.Key: the public key.
func (p publicKey) Key() any { return &p.k.priv.PublicKey }

// keyRing holds the current signing key and the keys published in the JWKS.
// The current key is always published.
type keyRing struct {
	mu        sync.RWMutex
	current   *rsaKey
	published []*rsaKey // includes current
	all       map[string]*rsaKey
}

// newRSAKey generates a fresh RS256 key with a random key ID.
func newRSAKey() (*rsaKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating RSA signing key: %w", err)
	}
	return &rsaKey{id: rand.Text()[:16], priv: priv}, nil
}

// newKeyRing makes a ring with one freshly generated key.
func newKeyRing() (*keyRing, error) {
	k, err := newRSAKey()
	if err != nil {
		return nil, err
	}
	return &keyRing{current: k, published: []*rsaKey{k}, all: map[string]*rsaKey{k.id: k}}, nil
}

// rotate makes a new key current. With keepOld the previous keys stay in the
// JWKS; without it only the new key is published.
func (r *keyRing) rotate(keepOld bool) (string, error) {
	k, err := newRSAKey()
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = k
	r.all[k.id] = k
	if keepOld {
		r.published = append(slices.Clone(r.published), k)
	} else {
		r.published = []*rsaKey{k}
	}
	return k.id, nil
}

// signingKey returns the current signing key.
func (r *keyRing) signingKey() *rsaKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// byID returns any key the ring ever held (published or not).
func (r *keyRing) byID(kid string) (*rsaKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.all[kid]
	return k, ok
}

// publicKeys returns the keys published in the JWKS.
func (r *keyRing) publicKeys() []op.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]op.Key, 0, len(r.published))
	for _, k := range r.published {
		out = append(out, publicKey{k})
	}
	return out
}

// sign signs payload (raw JSON) with key k, setting the JOSE "typ" header.
func sign(k *rsaKey, typ string, payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       &jose.JSONWebKey{Key: k.priv, KeyID: k.id},
	}, opts)
	if err != nil {
		return "", fmt.Errorf("creating JWS signer: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing JWS: %w", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serializing JWS: %w", err)
	}
	return s, nil
}

// SigningKey implements op.Storage: the current signing key.
func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	return s.keys.signingKey(), nil
}

// SignatureAlgorithms implements op.Storage.
func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage: the keys published at the JWKS endpoint.
func (s *store) KeySet(context.Context) ([]op.Key, error) {
	return s.keys.publicKeys(), nil
}

// RotateKey generates a new RS256 signing key, makes it the key that signs
// every token from now on, and returns its key ID. With keepOld the previous
// keys stay published in the JWKS (a graceful rotation); without it the JWKS
// holds only the new key, so tokens signed before no longer verify.
func (p *Provider) RotateKey(keepOld bool) (string, error) {
	kid, err := p.store.keys.rotate(keepOld)
	if err != nil {
		return "", fmt.Errorf("rotating signing key: %w", err)
	}
	return kid, nil
}

// KeyID returns the key ID ("kid") of the current signing key.
func (p *Provider) KeyID() string { return p.store.keys.signingKey().id }

// SignJWT signs claims with the provider's current signing key (RS256, with
// its kid) and returns the compact JWT. typ is the JOSE "typ" header; empty
// means "JWT". Use it to craft tokens the provider would never issue
// (expired, wrong audience, missing claims) that still carry a valid
// signature.
func (p *Provider) SignJWT(claims map[string]any, typ string) (string, error) {
	if typ == "" {
		typ = "JWT"
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	return sign(p.store.keys.signingKey(), typ, payload)
}
