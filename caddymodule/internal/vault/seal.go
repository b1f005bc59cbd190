package vault

import (
	"fmt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// MinKeyBytes is the least length of a configured key, in bytes (the
// session keys' minimum: the vault is keyed by them).
const MinKeyBytes = session.MinKeyBytes

// purposeRecord separates the vault's record keys from every other key
// derived from the same secrets (session records, cookies). Changing it
// makes every stored connection unreadable.
const purposeRecord = "vault-record-aead"

// sealer encrypts vault records with the session package's Sealer
// (AES-256-GCM, the first key seals, every key opens) under keys of the
// vault's own purpose. The additional data is the record's store key,
// which names the user and the provider: a record copied under another
// user's or provider's key does not open.
type sealer struct {
	s *session.Sealer
}

// errSealed is returned for a record that does not open: corrupt, moved
// to another store key, or sealed under a key no longer configured.
var errSealed = session.ErrSealed

// newSealer derives the vault's record keys from the configured secrets.
// Errors never contain key material.
func newSealer(secrets [][]byte) (*sealer, error) {
	s, err := session.NewSealer(secrets, purposeRecord)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &sealer{s: s}, nil
}

// seal encrypts plaintext for the record stored under aad.
func (s *sealer) seal(plaintext []byte, aad string) []byte { return s.s.Seal(plaintext, aad) }

// open decrypts a record stored under aad.
func (s *sealer) open(sealed []byte, aad string) ([]byte, error) { return s.s.Open(sealed, aad) }
