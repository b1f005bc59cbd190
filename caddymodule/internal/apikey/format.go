// Package apikey implements Portcullis API keys: their format, the
// hash that is stored instead of the key, and verification against a
// set of key records.
//
// A key reads `<prefix>_<id>_<secret><checksum>`, for example
// `pcl_4fT9kQ2mZx7B_Vb3…`. The id (12 base62 characters) makes lookup
// O(1) and is safe to log; the secret (32 base62 characters, about 190
// bits) is never stored or logged; the checksum (6 base62 characters, a
// CRC-32 of everything before it) lets secret scanners and Portcullis
// itself reject mistyped or made-up keys without a lookup, as GitHub's
// token format does.
package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

const (
	// DefaultPrefix is the key prefix used when none is configured.
	DefaultPrefix = "pcl"
	// IDLength is the number of base62 characters in a key id.
	IDLength = 12
	// SecretLength is the number of base62 characters in a key secret.
	SecretLength = 32
	// ChecksumLength is the number of base62 characters of the checksum.
	ChecksumLength = 6
	// MaxPrefixLength is the longest prefix allowed.
	MaxPrefixLength = 16

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed is returned by Parse for a string that is not a
// well-formed key of the expected prefix (wrong shape, wrong alphabet
// or a checksum that does not match).
var ErrMalformed = errors.New("apikey: malformed key")

// Key is a parsed API key. Its String method returns the full key,
// secret included: never log it.
type Key struct {
	// Prefix is the configured key prefix, e.g. "pcl".
	Prefix string
	// ID identifies the key record; it is not secret.
	ID string
	// Secret is the random part of the key.
	Secret string
}

// String returns the full key with its checksum.
func (k Key) String() string {
	body := k.Prefix + "_" + k.ID + "_" + k.Secret
	return body + checksum(body)
}

// ValidatePrefix reports whether p can be used as a key prefix: 2 to
// MaxPrefixLength lowercase letters or digits, starting with a letter.
func ValidatePrefix(p string) error {
	if len(p) < 2 || len(p) > MaxPrefixLength {
		return fmt.Errorf("apikey: prefix %q must be 2 to %d characters", p, MaxPrefixLength)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		isLower, isDigit := c >= 'a' && c <= 'z', c >= '0' && c <= '9'
		if !isLower && !(isDigit && i > 0) {
			return fmt.Errorf("apikey: prefix %q must be lowercase letters and digits, starting with a letter", p)
		}
	}
	return nil
}

// ValidateID reports whether id has the shape of a key id.
func ValidateID(id string) error {
	if len(id) != IDLength || !isBase62(id) {
		return fmt.Errorf("apikey: key id %q must be %d base62 characters", id, IDLength)
	}
	return nil
}

// Generate returns a new random key with the given prefix.
func Generate(prefix string) (Key, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return Key{}, err
	}
	id, err := randomBase62(IDLength)
	if err != nil {
		return Key{}, err
	}
	secret, err := randomBase62(SecretLength)
	if err != nil {
		return Key{}, err
	}
	return Key{Prefix: prefix, ID: id, Secret: secret}, nil
}

// Parse splits s into a Key, checking the prefix, the shape and the
// checksum. It does not look anything up. Errors never include s.
func Parse(prefix, s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != IDLength+1+SecretLength+ChecksumLength || rest[IDLength] != '_' {
		return Key{}, ErrMalformed
	}
	k := Key{Prefix: prefix, ID: rest[:IDLength], Secret: rest[IDLength+1 : IDLength+1+SecretLength]}
	sum := rest[IDLength+1+SecretLength:]
	if !isBase62(k.ID) || !isBase62(k.Secret) {
		return Key{}, ErrMalformed
	}
	if want := checksumBytes(s[:len(s)-ChecksumLength]); sum != string(want[:]) {
		return Key{}, ErrMalformed
	}
	return k, nil
}

// LooksLike reports cheaply whether s starts like a key of this prefix,
// so a bearer token can be routed to API-key verification rather than
// JWT verification.
func LooksLike(prefix, s string) bool {
	return len(s) > len(prefix)+1 && s[len(prefix)] == '_' && s[:len(prefix)] == prefix
}

// checksum returns the base62 CRC-32 of body that ends a key.
func checksum(body string) string {
	out := checksumBytes(body)
	return string(out[:])
}

func checksumBytes(body string) [ChecksumLength]byte {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [ChecksumLength]byte
	for i := ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return out
}

// base62 marks the bytes of alphabet.
var base62 = func() (t [256]bool) {
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = true
	}
	return t
}()

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base62[s[i]] {
			return false
		}
	}
	return true
}

// randomBase62 returns n uniformly random base62 characters, using
// rejection sampling so no character is more likely than another.
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("apikey: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if b < 248 { // 248 = 4*62: keeps the distribution uniform
				out = append(out, alphabet[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}
