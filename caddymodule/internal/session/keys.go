package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// MinKeyBytes is the least length of a configured session key, in bytes.
const MinKeyBytes = 32

// hkdfSalt separates our derivations from any other use of the same
// secrets.
const hkdfSalt = "portcullis session keys v1"

// Purposes of derived keys, used as HKDF info. Changing one invalidates
// every cookie or record protected with it.
const (
	purposeRecord = "record-aead"
	// PurposeTicket is the purpose of the session cookie codecs.
	PurposeTicket = "ticket-cookie"
)

// checkKeys validates configured keys: at least one, each MinKeyBytes or
// longer. Errors never contain key material.
func checkKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("session: no keys configured")
	}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			return fmt.Errorf("session: key %d is %d bytes, want at least %d", i+1, len(k), MinKeyBytes)
		}
	}
	return nil
}

// deriveKey derives n bytes for purpose from one configured secret with
// HKDF-SHA256.
func deriveKey(secret []byte, purpose string, n int) []byte {
	k, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), "portcullis/"+purpose, n)
	if err != nil {
		// Only possible for n > 255*32 bytes; n is a constant here.
		panic("session: hkdf: " + err.Error())
	}
	return k
}

// DeriveCodecs returns securecookie codecs for purpose, one per configured
// key in order (the first encodes, all decode: key rotation). Each codec
// authenticates with HMAC-SHA256 and encrypts with AES-256 (CTR), keys
// derived with HKDF-SHA256 from the configured secret and purpose, so
// different purposes (session ticket, login flow) never share keys and a
// cookie of one kind does not decode as another. maxAge bounds the age of
// the timestamp securecookie embeds (real time, second resolution); 0
// disables that check (callers then check their own expiry). Values are
// []byte (securecookie.NopEncoder); encoded values longer than 4096 bytes
// are refused.
func DeriveCodecs(keys [][]byte, purpose string, maxAge time.Duration) ([]securecookie.Codec, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	if purpose == "" {
		return nil, errors.New("session: codec purpose must not be empty")
	}
	codecs := make([]securecookie.Codec, 0, len(keys))
	for _, k := range keys {
		sc := securecookie.New(deriveKey(k, purpose+"/mac", 32), deriveKey(k, purpose+"/enc", 32))
		sc.SetSerializer(securecookie.NopEncoder{})
		sc.MaxAge(int(maxAge / time.Second))
		codecs = append(codecs, sc)
	}
	return codecs, nil
}

// Sealer encrypts records with AES-256-GCM under keys derived from the
// configured secrets for one purpose: the first key seals, every key
// opens (rotation). Session records use it, and so does every other
// record kept encrypted at rest (the upstream credential vault), each
// under its own purpose so no two share a key.
//
// Sealed format: version byte (1), key id (4 bytes, a hash of the derived
// key, so opening picks the right key without trial decryption), nonce
// (12 bytes, random), ciphertext and tag. The additional data binds the
// ciphertext to its store key, so a record copied to another record's key
// does not open. A Sealer is safe for concurrent use.
type Sealer struct {
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

// NewSealer derives one AES-256-GCM key per configured secret for
// purpose, with HKDF-SHA256. Keys must meet MinKeyBytes; errors never
// contain key material.
func NewSealer(keys [][]byte, purpose string) (*Sealer, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	if purpose == "" {
		return nil, errors.New("session: sealer purpose must not be empty")
	}
	s := &Sealer{}
	for _, k := range keys {
		dk := deriveKey(k, purpose, 32)
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, fmt.Errorf("session: record cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session: record cipher: %w", err)
		}
		sum := sha256.Sum256(append([]byte("key id\x00"), dk...))
		var sk sealKey
		copy(sk.id[:], sum[:4])
		sk.aead = aead
		s.keys = append(s.keys, sk)
	}
	return s, nil
}

// newSealer is the session records' Sealer.
func newSealer(keys [][]byte) (*Sealer, error) { return NewSealer(keys, purposeRecord) }

// Seal encrypts plaintext for the record stored under aad.
func (s *Sealer) Seal(plaintext []byte, aad string) []byte {
	k := s.keys[0]
	out := make([]byte, 1+4+12, sealOverhead+len(plaintext))
	out[0] = sealVersion
	copy(out[1:5], k.id[:])
	rand.Read(out[5:17])
	return k.aead.Seal(out, out[5:17], plaintext, []byte(aad))
}

// ErrSealed is returned for records that do not open: corrupt, sealed
// under a key no longer configured, or moved to another key.
var ErrSealed = errors.New("session: record does not decrypt")

// Open decrypts a sealed record stored under aad.
func (s *Sealer) Open(sealed []byte, aad string) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	for _, k := range s.keys {
		if !bytes.Equal(k.id[:], sealed[1:5]) {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[5:17], sealed[17:], []byte(aad))
		if err != nil {
			return nil, ErrSealed
		}
		return pt, nil
	}
	return nil, ErrSealed
}
