package providercheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a key set, as the gateway does.
const maxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA key the gateway uses (RFC 7518 §3.3).
const minRSABits = 2048

// acceptedAlgs are the signature algorithms the gateway accepts for ID
// tokens and logout tokens: asymmetric only. none and HS* never are.
var acceptedAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}

// jwk is one key of a key set, as the report describes it.
type jwk struct {
	kid, kty, alg string
	key           any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey; nil when unusable
	why           string // why the key is unusable
}

// describe names a key: type and size or curve, alg, kid.
func (k jwk) describe() string {
	parts := []string{k.kty}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		parts[0] = fmt.Sprintf("RSA-%d", key.N.BitLen())
	case *ecdsa.PublicKey:
		parts[0] = "EC-" + key.Curve.Params().Name
	case ed25519.PublicKey:
		parts[0] = "OKP-Ed25519"
	}
	if k.alg != "" {
		parts = append(parts, k.alg)
	}
	kid := k.kid
	if kid == "" {
		kid = "(none)"
	}
	parts = append(parts, "kid="+quoteText(kid))
	return strings.Join(parts, " ")
}

// fits reports whether k may verify alg, by the gateway's rules: its
// type and curve match the algorithm and its own alg, when set, is alg
// (EdDSA and Ed25519 name the same signature).
func (k jwk) fits(alg string) bool {
	if k.alg != "" && k.alg != alg && !(isEdDSA(k.alg) && isEdDSA(alg)) {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return isEdDSA(alg)
	}
	return false
}

func isEdDSA(alg string) bool { return alg == "EdDSA" || alg == "Ed25519" }

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
// gateway's rules: public RSA keys of at least 2048 bits, EC and Ed25519
// keys, for signatures.
func parseKeySet(body []byte) (keySet, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return keySet{}, fmt.Errorf("not a JWK Set (RFC 7517 §5): %w", err)
	}
	var ks keySet
	for _, raw := range set.Keys {
		var head struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		_ = json.Unmarshal(raw, &head)
		k := jwk{kid: head.Kid, kty: head.Kty, alg: head.Alg}
		var jk jose.JSONWebKey
		err := jk.UnmarshalJSON(raw)
		_, symmetric := jk.Key.([]byte)
		switch {
		case err == nil && symmetric:
			k.why = "symmetric key"
		case err != nil || !jk.Valid():
			k.why = "does not parse"
		case head.Use != "" && head.Use != "sig":
			k.why = "use " + quoteText(head.Use)
		case !jk.IsPublic():
			k.why = "holds private key material"
		default:
			switch key := jk.Key.(type) {
			case *rsa.PublicKey:
				if key.N.BitLen() < minRSABits {
					k.why = fmt.Sprintf("RSA key of %d bits, less than %d", key.N.BitLen(), minRSABits)
					break
				}
				k.key = key
			case *ecdsa.PublicKey, ed25519.PublicKey:
				k.key = key
			default:
				k.why = "unsupported key type"
			}
		}
		if k.key != nil {
			ks.usable = append(ks.usable, k)
		} else {
			ks.unusable = append(ks.unusable, k)
		}
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
