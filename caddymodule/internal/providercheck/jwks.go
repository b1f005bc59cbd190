package providercheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// maxJWKSBytes bounds a key set, as the gateway does.
const maxJWKSBytes = 1 << 20

// jwk is one key of a key set, as the report describes it: a usable
// key, or one the gateway skips and why.
type jwk struct {
	jwtauth.Key
	why string // why the key is unusable; "" for a usable one
}

// describe names a key: type and size or curve, alg, kid.
func (k jwk) describe() string {
	parts := []string{k.Type}
	switch key := k.Public.(type) {
	case *rsa.PublicKey:
		parts[0] = fmt.Sprintf("RSA-%d", key.N.BitLen())
	case *ecdsa.PublicKey:
		parts[0] = "EC-" + key.Curve.Params().Name
	case ed25519.PublicKey:
		parts[0] = "OKP-Ed25519"
	}
	if k.Algorithm != "" {
		parts = append(parts, k.Algorithm)
	}
	kid := k.KeyID
	if kid == "" {
		kid = "(none)"
	}
	parts = append(parts, "kid="+quoteText(kid))
	return strings.Join(parts, " ")
}

// fits reports whether k may verify alg, by the gateway's rules.
func (k jwk) fits(alg string) bool { return k.why == "" && k.Fits(alg) }

// keySet is a fetched key set.
type keySet struct {
	usable, unusable []jwk
}

// verifiable returns the algorithms of algs that at least one usable key
// fits.
func (ks keySet) verifiable(algs []string) []string {
	var out []string
	for _, a := range algs {
		if slices.ContainsFunc(ks.usable, func(k jwk) bool { return k.fits(a) }) {
			out = append(out, a)
		}
	}
	return out
}

// summary describes the key set for a report line.
func (ks keySet) summary() string {
	names := make([]string, len(ks.usable))
	for i, k := range ks.usable {
		names[i] = k.describe()
	}
	s := fmt.Sprintf("%d usable %s: %s", len(ks.usable), plural(len(ks.usable), "key", "keys"), strings.Join(names, ", "))
	if len(ks.unusable) > 0 {
		s += fmt.Sprintf("; ignored %d: %s", len(ks.unusable), ks.ignored())
	}
	return s
}

// ignored lists the unusable keys with the reason.
func (ks keySet) ignored() string {
	skipped := make([]string, len(ks.unusable))
	for i, k := range ks.unusable {
		skipped[i] = k.describe() + " (" + k.why + ")"
	}
	return strings.Join(skipped, ", ")
}

// fetchKeySet fetches and parses the key set at u.
func fetchKeySet(ctx context.Context, client *http.Client, timeout time.Duration, u string) (keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return keySet{}, fmt.Errorf("key set URL %q: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return keySet{}, fmt.Errorf("fetching the key set %s: %s", u, transportCause(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return keySet{}, fmt.Errorf("reading the key set %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return keySet{}, fmt.Errorf("the key set %s answered %s", u, resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return keySet{}, fmt.Errorf("the key set %s is larger than %d bytes", u, maxJWKSBytes)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" {
		return keySet{}, fmt.Errorf("%s answered an HTML page, not a key set", u)
	}
	ks, err := parseKeySet(body)
	if err != nil {
		return keySet{}, fmt.Errorf("the key set %s: %w", u, err)
	}
	return ks, nil
}

// parseKeySet sorts a JWK Set's keys into usable and unusable, by the
// gateway's own rules (jwtauth.ClassifyKeys).
func parseKeySet(body []byte) (keySet, error) {
	usable, skipped, err := jwtauth.ClassifyKeys(body)
	if err != nil {
		return keySet{}, fmt.Errorf("not a JWK Set (RFC 7517 §5): %w", err)
	}
	var ks keySet
	for _, k := range usable {
		ks.usable = append(ks.usable, jwk{Key: k})
	}
	for _, k := range skipped {
		ks.unusable = append(ks.unusable, jwk{Key: jwtauth.Key{KeyID: k.KeyID, Type: k.Type, Algorithm: k.Algorithm}, why: k.Why})
	}
	if len(ks.usable) == 0 {
		if len(ks.unusable) == 0 {
			return ks, fmt.Errorf("holds no key")
		}
		return ks, fmt.Errorf("holds no usable signing key; ignored: %s", ks.ignored())
	}
	return ks, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
