package authserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/assertion"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// generatedKeyTTL is how long a generated signing key lives in the
// store (every record must expire); when it is gone, the next replica to
// need one generates a new one and tokens under the old key stop
// verifying, which access tokens' short lifetime makes harmless.
const generatedKeyTTL = 5 * 365 * 24 * time.Hour

// keyring holds the signing keys: the configured ones (the first signs,
// all are published), or, with none configured, one generated on first
// use and kept in the store so that every replica signs with the same
// key. Loading is lazy: Provision does no I/O.
type keyring struct {
	configured []*ecdsa.PrivateKey
	st         store.Store
	storeKey   string

	mu     sync.Mutex
	loaded *keySet
}

// keySet is a ready set of keys.
type keySet struct {
	kid    string
	signer jose.Signer
	jwks   []byte
	public jose.JSONWebKeySet
}

// kidOf names a public key by its RFC 7638 thumbprint.
func kidOf(k *ecdsa.PrivateKey) (string, error) {
	thumb, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("authserver: key thumbprint: %w", err)
	}
	return hex.EncodeToString(thumb[:12]), nil
}

// newKeySet builds the set of keys, keys[0] signing.
func newKeySet(keys []*ecdsa.PrivateKey) (*keySet, error) {
	ks := &keySet{}
	for i, k := range keys {
		kid, err := kidOf(k)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			ks.kid = kid
			ks.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				return nil, fmt.Errorf("authserver: making signer: %w", err)
			}
		}
		ks.public.Keys = append(ks.public.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	raw, err := json.Marshal(ks.public)
	if err != nil {
		return nil, fmt.Errorf("authserver: encoding key set: %w", err)
	}
	ks.jwks = raw
	return ks, nil
}

// get returns the key set, loading or generating the stored key on
// first use.
func (r *keyring) get(ctx context.Context) (*keySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded != nil {
		return r.loaded, nil
	}
	keys := r.configured
	if len(keys) == 0 {
		k, err := r.shared(ctx)
		if err != nil {
			return nil, err
		}
		keys = []*ecdsa.PrivateKey{k}
	}
	ks, err := newKeySet(keys)
	if err != nil {
		return nil, err
	}
	r.loaded = ks
	return ks, nil
}

// shared returns the key every replica uses: the stored one, or a new
// one stored with SetNX (of replicas racing, one key wins and all read it).
func (r *keyring) shared(ctx context.Context) (*ecdsa.PrivateKey, error) {
	raw, err := r.st.Get(ctx, r.storeKey)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("authserver: generating signing key: %w", gerr)
		}
		der, gerr := x509.MarshalPKCS8PrivateKey(k)
		if gerr != nil {
			return nil, fmt.Errorf("authserver: encoding signing key: %w", gerr)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if _, err := r.st.SetNX(ctx, r.storeKey, pemKey, generatedKeyTTL); err != nil {
			return nil, fmt.Errorf("authserver: storing signing key: %w", err)
		}
		raw, err = r.st.Get(ctx, r.storeKey)
	}
	if err != nil {
		return nil, fmt.Errorf("authserver: reading signing key: %w", err)
	}
	return ParseKey(raw)
}

// ParseKey reads an EC P-256 private key from PEM (SEC 1 "EC PRIVATE
// KEY" or PKCS #8 "PRIVATE KEY"), as the signed assertion's keys are read.
func ParseKey(pemData []byte) (*ecdsa.PrivateKey, error) {
	k, err := assertion.ParseKey(pemData)
	if err != nil {
		return nil, fmt.Errorf("authserver: signing key: %w", err)
	}
	return k, nil
}
