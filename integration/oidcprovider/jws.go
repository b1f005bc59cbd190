package oidcprovider

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// go-jose v4 signs and verifies Ed25519 only under the polymorphic name
// "EdDSA". The provider publishes and signs under the fully-specified name
// "Ed25519" (RFC 9864) through go-jose's opaque signer and verifier
// interfaces, which leave the alg to the caller.

// errWrongAlg is returned when a token's alg does not belong to its key.
var errWrongAlg = errors.New("token alg does not match its key")

// ed25519Signer signs under alg Ed25519; it implements jose.OpaqueSigner.
type ed25519Signer struct{ k *signingKey }

var _ jose.OpaqueSigner = ed25519Signer{}

// Public implements jose.OpaqueSigner.
func (s ed25519Signer) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: s.k.priv.Public(), KeyID: s.k.id, Algorithm: AlgEd25519, Use: "sig"}
}

// Algs implements jose.OpaqueSigner.
func (s ed25519Signer) Algs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{AlgEd25519}
}

// SignPayload implements jose.OpaqueSigner: payload is the JWS signing input.
func (s ed25519Signer) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != AlgEd25519 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	priv, ok := s.k.priv.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key %s is a %T, not an Ed25519 key", s.k.id, s.k.priv)
	}
	return ed25519.Sign(priv, payload), nil
}

// ed25519Verifier verifies Ed25519 signatures under the algs it accepts; it
// implements jose.OpaqueVerifier.
type ed25519Verifier struct {
	pub  ed25519.PublicKey
	algs []jose.SignatureAlgorithm
}

// VerifyPayload implements jose.OpaqueVerifier.
func (v ed25519Verifier) VerifyPayload(payload, signature []byte, alg jose.SignatureAlgorithm) error {
	if !slices.Contains(v.algs, alg) {
		return jose.ErrUnsupportedAlgorithm
	}
	if !ed25519.Verify(v.pub, payload, signature) {
		return jose.ErrCryptoFailure
	}
	return nil
}

// acceptedAlgs returns the header algs a signature by k may carry: its
// published alg and, with internal, also what the op package signs with
// before the token endpoint re-signs ("EdDSA" for an Ed25519 key).
func (k *signingKey) acceptedAlgs(internal bool) []jose.SignatureAlgorithm {
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)}
	if internal && k.renamed() {
		algs = append(algs, k.SignatureAlgorithm())
	}
	return algs
}

// verifier returns what jose.JSONWebSignature.Verify needs for k.
func (k *signingKey) verifier(algs []jose.SignatureAlgorithm) any {
	if pub, ok := k.priv.Public().(ed25519.PublicKey); ok {
		return ed25519Verifier{pub: pub, algs: algs}
	}
	return k.priv.Public()
}

// sign signs payload (raw JSON) with key k under its published alg, setting
// the JOSE "typ" header, and returns the compact serialization.
func sign(k *signingKey, typ string, payload []byte) (string, error) {
	var key any = k.priv
	if k.alg == AlgEd25519 {
		key = ed25519Signer{k}
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.alg),
		Key:       &jose.JSONWebKey{Key: key, KeyID: k.id},
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

// verifySignature checks jws (one signature) against k, allowing the header
// algs of k.acceptedAlgs(internal), and returns the payload.
func verifySignature(k *signingKey, jws *jose.JSONWebSignature, internal bool) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("JWS has %d signatures, want 1", len(jws.Signatures))
	}
	algs := k.acceptedAlgs(internal)
	if !slices.Contains(algs, jose.SignatureAlgorithm(jws.Signatures[0].Header.Algorithm)) {
		return nil, fmt.Errorf("%w: alg %q, key %s is %s", errWrongAlg, jws.Signatures[0].Header.Algorithm, k.id, k.alg)
	}
	payload, err := jws.Verify(k.verifier(algs))
	if err != nil {
		return nil, fmt.Errorf("verifying JWS: %w", err)
	}
	return payload, nil
}

// allAlgs are the algs a compact JWS is parsed with; the key decides.
var allAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, AlgEd25519}

// verifyOwn checks that token was signed by one of the provider's keys
// (published or withdrawn) and returns its payload and that key. It accepts
// tokens the op package has just signed (alg EdDSA for an Ed25519 key).
func (p *Provider) verifyOwn(token string) ([]byte, *signingKey, error) {
	jws, err := jose.ParseSigned(token, allAlgs)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, fmt.Errorf("JWS has %d signatures, want 1", len(jws.Signatures))
	}
	key, ok := p.store.keys.byID(jws.Signatures[0].Header.KeyID)
	if !ok {
		return nil, nil, fmt.Errorf("JWS signed with unknown key %q", jws.Signatures[0].Header.KeyID)
	}
	payload, err := verifySignature(key, jws, true)
	if err != nil {
		return nil, nil, err
	}
	return payload, key, nil
}

// publishedKeySet is the oidc.KeySet the op package verifies presented
// tokens with (access tokens at userinfo, introspection and revocation;
// id_token_hint at end_session): the keys published in the JWKS, each only
// under its published alg. The op package's own key set cannot match an
// Ed25519 key to alg "Ed25519".
type publishedKeySet struct{ keys *keyRing }

var _ oidc.KeySet = publishedKeySet{}

// VerifySignature implements oidc.KeySet.
func (s publishedKeySet) VerifySignature(_ context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("JWS has %d signatures, want 1", len(jws.Signatures))
	}
	key, ok := s.keys.publishedKey(jws.Signatures[0].Header.KeyID)
	if !ok {
		return nil, fmt.Errorf("no published key %q", jws.Signatures[0].Header.KeyID)
	}
	return verifySignature(key, jws, false)
}
