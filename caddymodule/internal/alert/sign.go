package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com): every
// delivery carries them, so receivers can verify it with that project's
// libraries.
const (
	// HeaderID is the message id: one per batch, the same on every
	// retry of it, so a receiver can drop a batch it has already seen.
	HeaderID = "Webhook-Id"
	// HeaderTimestamp is the time of this attempt in Unix seconds; a
	// receiver refuses one too far from its own clock (replays).
	HeaderTimestamp = "Webhook-Timestamp"
	// HeaderSignature holds `v1,<base64 HMAC-SHA256>` for each secret,
	// separated by spaces (several during a secret rotation), computed
	// over `<id>.<timestamp>.<body>` (the exact bytes sent).
	HeaderSignature = "Webhook-Signature"
)

// SecretPrefix marks a secret in the Standard Webhooks form, whose key
// is the base64 after it; other secrets are used as their bytes.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest signing key accepted.
const MinSecretBytes = 24

// ParseSecret returns the signing key of a configured secret:
// `whsec_<base64>` is decoded, anything else is taken as it is.
func ParseSecret(s string) ([]byte, error) {
	key := []byte(s)
	if rest, ok := strings.CutPrefix(s, SecretPrefix); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New("alert: a whsec_ secret must be followed by base64")
		}
		key = b
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("alert: the secret is %d bytes; use at least %d random bytes (e.g. `openssl rand -base64 32`)", len(key), MinSecretBytes)
	}
	return key, nil
}

// Sign returns the Webhook-Signature value of a delivery: one
// `v1,<base64>` per key, space-separated.
func Sign(keys [][]byte, id string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
