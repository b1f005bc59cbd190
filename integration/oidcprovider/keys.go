package oidcprovider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Signing algorithms of Config.IDTokenAlg: the JOSE "alg" of every token
// the provider signs (ID, access and logout tokens) and of its JWKS keys.
const (
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit RSA key,
	// the lenient profile's default.
	AlgRS256 = "RS256"
	// AlgES256 is ECDSA over P-256 with SHA-256.
	AlgES256 = "ES256"
	// AlgEd25519 is EdDSA over Ed25519 under its fully-specified name
	// (RFC 9864); the key is published as kty OKP, crv Ed25519, alg
	// Ed25519. It is the strict profile's default.
	AlgEd25519 = "Ed25519"
)

// rsaKeyBits is the size of the generated RSA signing keys.
const rsaKeyBits = 2048

// signingKey is one key pair. It serves as op.SigningKey (private half)
// and, through publicKey, as an op.Key in the JWKS.
type signingKey struct {
	id   string
	alg  string // the published alg: JWKS and JOSE header of issued tokens
	priv crypto.Signer
}

// newSigningKey generates a fresh key for alg with a random key ID.
func newSigningKey(alg string) (*signingKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q (want %s, %s or %s)", alg, AlgRS256, AlgES256, AlgEd25519)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s signing key: %w", alg, err)
	}
	return &signingKey{id: rand.Text()[:16], alg: alg, priv: priv}, nil
}

// SignatureAlgorithm implements op.SigningKey: the algorithm the op package
// signs with. go-jose and the op package know Ed25519 only as "EdDSA", so
// that is what an Ed25519 key tells them; the token endpoint re-signs
// under the fully-specified name (see tokenrewrite.go).
func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	if k.alg == AlgEd25519 {
		return jose.EdDSA
	}
	return jose.SignatureAlgorithm(k.alg)
}

// renamed reports whether the op package signs under another alg name than
// the published one, so its tokens must be re-signed.
func (k *signingKey) renamed() bool { return string(k.SignatureAlgorithm()) != k.alg }

// Key implements op.SigningKey: the private key.
func (k *signingKey) Key() any { return k.priv }

// ID implements op.SigningKey: the key ID ("kid").
func (k *signingKey) ID() string { return k.id }

// publicKey is the public half of a signingKey, as published in the JWKS.
type publicKey struct{ k *signingKey }

// ID implements op.Key.
func (p publicKey) ID() string { return p.k.id }

// Algorithm implements op.Key: the published alg.
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(p.k.alg) }

// Use implements op.Key.
func (p publicKey) Use() string { return "sig" }

// Key implements op.Key: the public key.
func (p publicKey) Key() any { return p.k.priv.Public() }

// keyRing holds the current signing key and the keys published in the JWKS.
// The current key is always published; every key has the ring's alg.
type keyRing struct {
	alg string

	mu        sync.RWMutex
	current   *signingKey
	published []*signingKey // includes current
	all       map[string]*signingKey
}

// newKeyRing makes a ring for alg with one freshly generated key.
func newKeyRing(alg string) (*keyRing, error) {
	k, err := newSigningKey(alg)
	if err != nil {
		return nil, err
	}
	return &keyRing{alg: alg, current: k, published: []*signingKey{k}, all: map[string]*signingKey{k.id: k}}, nil
}

// rotate makes a new key current. With keepOld the previous keys stay in the
// JWKS; without it only the new key is published.
func (r *keyRing) rotate(keepOld bool) (string, error) {
	k, err := newSigningKey(r.alg)
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
		r.published = []*signingKey{k}
	}
	return k.id, nil
}

// signingKey returns the current signing key.
func (r *keyRing) signingKey() *signingKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current
}

// byID returns any key the ring ever held (published or not).
func (r *keyRing) byID(kid string) (*signingKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.all[kid]
	return k, ok
}

// publishedKey returns the published key with the given kid; an empty kid
// matches when exactly one key is published.
func (r *keyRing) publishedKey(kid string) (*signingKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if kid == "" && len(r.published) == 1 {
		return r.published[0], true
	}
	for _, k := range r.published {
		if k.id == kid {
			return k, true
		}
	}
	return nil, false
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

// SigningKey implements op.Storage: the current signing key.
func (s *store) SigningKey(context.Context) (op.SigningKey, error) {
	return s.keys.signingKey(), nil
}

// SignatureAlgorithms implements op.Storage; discovery lists them as
// id_token_signing_alg_values_supported.
func (s *store) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(s.keys.alg)}, nil
}

// KeySet implements op.Storage: the keys published at the JWKS endpoint.
func (s *store) KeySet(context.Context) ([]op.Key, error) {
	return s.keys.publicKeys(), nil
}

// RotateKey generates a new signing key (of the provider's SigningAlg),
// makes it the key that signs every token from now on, and returns its key
// ID. With keepOld the previous keys stay published in the JWKS (a graceful
// rotation); without it the JWKS holds only the new key, so tokens signed
// before no longer verify.
func (p *Provider) RotateKey(keepOld bool) (string, error) {
	kid, err := p.store.keys.rotate(keepOld)
	if err != nil {
		return "", fmt.Errorf("rotating signing key: %w", err)
	}
	return kid, nil
}

// KeyID returns the key ID ("kid") of the current signing key.
func (p *Provider) KeyID() string { return p.store.keys.signingKey().id }

// SigningAlg returns the JOSE "alg" of the provider's keys and tokens:
// AlgRS256, AlgES256 or AlgEd25519.
func (p *Provider) SigningAlg() string { return p.store.keys.alg }

// SignJWT signs claims with the provider's current signing key (its alg and
// kid) and returns the compact JWT. typ is the JOSE "typ" header; empty
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
