package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MinKeyBytes is the least length of a configured key, in bytes (the
// session keys' minimum: the vault is keyed by them).
const MinKeyBytes = 32

// hkdfSalt and hkdfInfo separate the vault's record keys from every other
// key derived from the same secrets (session records, cookies). Changing
// either makes every stored connection unreadable.
const (
	hkdfSalt = "portcullis vault keys v1"
	hkdfInfo = "portcullis/vault-record-aead"
)

// sealer encrypts records with AES-256-GCM under keys derived from the
// configured secrets: the first key seals, every key opens (rotation).
//
// Sealed format: version byte, key id (4 bytes, a hash of the derived
// key, so opening picks its key without trial decryption), random nonce
// (12 bytes), ciphertext and tag. The additional data is the record's
// store key, which names the user and the provider: a record copied
// under another user's or provider's key does not open.
type sealer struct {
	keys []sealKey
}

type sealKey struct {
	id   [4]byte
	aead cipher.AEAD
}

const (
	sealVersion  = 1
	sealOverhead = 1 + 4 + 12 + 16
)

// errSealed is returned for a record that does not open: corrupt, moved
// to another store key, or sealed under a key no longer configured.
var errSealed = errors.New("vault: record does not decrypt")

// newSealer derives one AES-256-GCM key per secret with HKDF-SHA256.
// Errors never contain key material.
func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("vault: no keys configured")
	}
	s := &sealer{}
	for i, secret := range secrets {
		if len(secret) < MinKeyBytes {
			return nil, fmt.Errorf("vault: key %d is %d bytes, want at least %d", i+1, len(secret), MinKeyBytes)
		}
		dk, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), hkdfInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("vault: deriving key %d: %w", i+1, err)
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, fmt.Errorf("vault: record cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: record cipher: %w", err)
		}
		sum := sha256.Sum256(append([]byte("vault key id\x00"), dk...))
		var k sealKey
		copy(k.id[:], sum[:4])
		k.aead = aead
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// seal encrypts plaintext for the record stored under aad.
func (s *sealer) seal(plaintext []byte, aad string) []byte {
	k := s.keys[0]
	out := make([]byte, 1+4+12, sealOverhead+len(plaintext))
	out[0] = sealVersion
	copy(out[1:5], k.id[:])
	rand.Read(out[5:17])
	return k.aead.Seal(out, out[5:17], plaintext, []byte(aad))
}

// open decrypts a record stored under aad.
func (s *sealer) open(sealed []byte, aad string) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, errSealed
	}
	for _, k := range s.keys {
		if !bytes.Equal(k.id[:], sealed[1:5]) {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[5:17], sealed[17:], []byte(aad))
		if err != nil {
			return nil, errSealed
		}
		return pt, nil
	}
	return nil, errSealed
}
