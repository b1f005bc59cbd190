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
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
// checksum. It does not look anything up and does not allocate. Errors
// never include s.
func Parse(prefix, s string) (Key, error) {
	n := len(prefix)
	if len(s) != n+keyTailLength || s[n] != '_' || s[:n] != prefix || s[n+1+IDLength] != '_' {
		return Key{}, ErrMalformed
	}
	sumAt := len(s) - ChecksumLength
	k := Key{Prefix: prefix, ID: s[n+1 : n+1+IDLength], Secret: s[n+2+IDLength : sumAt]}
	if !isBase62(k.ID) || !isBase62(k.Secret) || !checksumMatches(^crcUpdate(^uint32(0), s[:sumAt]), s[sumAt:]) {
		return Key{}, ErrMalformed
	}
	return k, nil
}

// keyTailLength is the length of a key after its prefix: the separators,
// the id, the secret and the checksum.
const keyTailLength = 1 + IDLength + 1 + SecretLength + ChecksumLength

// LooksLike reports cheaply whether s starts like a key of this prefix,
// so a bearer token can be routed to API-key verification rather than
// JWT verification.
func LooksLike(prefix, s string) bool {
	return len(s) > len(prefix)+1 && s[len(prefix)] == '_' && s[:len(prefix)] == prefix
}

// checksum returns the base62 CRC-32 of body that ends a key.
func checksum(body string) string {
	out := checksumBytes(^crcUpdate(^uint32(0), body))
	return string(out[:])
}

// checksumBytes encodes a CRC-32 as ChecksumLength base62 digits.
func checksumBytes(n uint32) [ChecksumLength]byte {
	var out [ChecksumLength]byte
	for i := ChecksumLength - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return out
}

// checksumMatches reports whether sum is the base62 encoding of crc.
func checksumMatches(crc uint32, sum string) bool {
	want := checksumBytes(crc)
	return sum == string(want[:])
}

// crcUpdate adds s to a running CRC-32 (IEEE, as hash/crc32 computes it:
// start from ^0 and invert the result) eight bytes at a time, without
// the []byte conversion (an allocation) that hash/crc32 would need.
func crcUpdate(crc uint32, s string) uint32 {
	t := &crcTables
	for ; len(s) >= 8; s = s[8:] {
		lo := crc ^ (uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][lo>>24] ^ t[5][lo>>16&0xff] ^ t[6][lo>>8&0xff] ^ t[7][lo&0xff]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ crc>>8
	}
	return crc
}

// crcTables are the slicing-by-8 tables of CRC-32 IEEE: crcTables[0] is
// crc32.IEEETable, crcTables[k] advances it by k more zero bytes.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// isBase62 reports whether every byte of s is in alphabet. It reads s
// eight bytes at a time (the last eight overlapping when len(s) is not a
// multiple of eight), without branches on their values.
func isBase62(s string) bool {
	b := []byte(s) // not copied: only read
	if len(b) < 8 {
		var w [8]byte
		copy(w[:], "00000000")
		copy(w[:], b)
		return notBase62Word(binary.LittleEndian.Uint64(w[:])) == 0
	}
	bad := notBase62Word(binary.LittleEndian.Uint64(b[len(b)-8:]))
	for i := 0; i+8 <= len(b); i += 8 {
		bad |= notBase62Word(binary.LittleEndian.Uint64(b[i:]))
	}
	return bad == 0
}

// Byte-lane constants of notBase62Word.
const (
	lanes1    = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// notBase62Word returns 0 if each of the eight bytes of x is in alphabet
// ([0-9A-Za-z]), else a non-zero value. For a byte b below 0x80,
// b+(0x80-lo) has its high bit set exactly when b >= lo, and
// b+(0x7f-hi) exactly when b > hi, without carrying into the next byte;
// b|0x20 is a lowercase letter exactly when b is a letter. A byte of 0x80
// or more is refused by its own high bit (its carries may disturb its
// neighbours' lanes, but the result is non-zero anyway).
func notBase62Word(x uint64) uint64 {
	f := x | 0x20*lanes1
	digit := (x + (0x80-'0')*lanes1) &^ (x + (0x7f-'9')*lanes1)
	letter := (f + (0x80-'a')*lanes1) &^ (f + (0x7f-'z')*lanes1)
	return (x | ^(digit | letter)) & lanesHigh
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
