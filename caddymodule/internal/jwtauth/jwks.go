package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxKeys bounds the usable keys kept from one JWK Set.
	maxKeys = 64
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	minRSABits = 2048
)

// verificationKey is one usable public key from a JWK Set.
type verificationKey struct {
	kid string
	alg string // the JWK's `alg`, "" when unrestricted
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// equal reports whether k and o are the same key under the same id.
func (k verificationKey) equal(o verificationKey) bool {
	if k.kid != o.kid || k.alg != o.alg {
		return false
	}
	pk, ok := k.key.(interface{ Equal(x any) bool })
	return ok && pk.Equal(o.key)
}

// fetcher performs the HTTP requests for one issuer.
type fetcher struct {
	issuer   string
	client   *http.Client
	timeout  time.Duration
	maxBytes int64
	onFetch  func(FetchEvent)
}

// get fetches url, bounded in time and size, hands the body to decode
// (which returns the number of usable keys, for the event) and reports the
// request to onFetch.
func (f *fetcher) get(ctx context.Context, kind, url string, decode func(body []byte, h http.Header) (int, error)) error {
	start := time.Now()
	status, n, err := f.do(ctx, url, decode)
	if f.onFetch != nil {
		f.onFetch(FetchEvent{Issuer: f.issuer, Kind: kind, URL: url, OK: err == nil, Status: status, Keys: n, Duration: time.Since(start), Err: err})
	}
	if err != nil {
		return fmt.Errorf("jwtauth: fetching %s %s: %w", kind, url, err)
	}
	return nil
}

func (f *fetcher) do(ctx context.Context, url string, decode func([]byte, http.Header) (int, error)) (int, int, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		return resp.StatusCode, 0, fmt.Errorf("unexpected status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return resp.StatusCode, 0, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > f.maxBytes {
		return resp.StatusCode, 0, fmt.Errorf("response larger than %d bytes", f.maxBytes)
	}
	n, err := decode(body, resp.Header)
	return resp.StatusCode, n, err
}

// discover reads the issuer's OpenID Provider configuration and returns
// its jwks_uri, checking that the document speaks for the issuer.
func (f *fetcher) discover(ctx context.Context, url string) (string, error) {
	var jwksURI string
	err := f.get(ctx, "discovery", url, func(body []byte, _ http.Header) (int, error) {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return 0, fmt.Errorf("decoding discovery document: %w", err)
		}
		if doc.Issuer != f.issuer {
			return 0, fmt.Errorf("discovery document is for issuer %s, not the configured one", quoteShort(doc.Issuer))
		}
		if err := checkURL(doc.JWKSURI); err != nil {
			return 0, fmt.Errorf("discovery document jwks_uri: %w", err)
		}
		jwksURI = doc.JWKSURI
		return 0, nil
	})
	return jwksURI, err
}

// jwks fetches a JWK Set and returns its usable keys and the response's
// cache lifetime (ok false when it gives none).
func (f *fetcher) jwks(ctx context.Context, url string) (keys []verificationKey, maxAge time.Duration, hasMaxAge bool, err error) {
	err = f.get(ctx, "jwks", url, func(body []byte, h http.Header) (int, error) {
		var perr error
		keys, perr = parseKeySet(body)
		if perr != nil {
			return 0, perr
		}
		maxAge, hasMaxAge = cacheMaxAge(h)
		return len(keys), nil
	})
	return keys, maxAge, hasMaxAge, err
}

// parseKeySet decodes a JWK Set and keeps the usable keys (see
// ClassifyKeys), at most maxKeys. An empty result is an error: keeping
// the previous keys is better than trusting none.
func parseKeySet(body []byte) ([]verificationKey, error) {
	usable, _, err := ClassifyKeys(body)
	if err != nil {
		return nil, err
	}
	if len(usable) == 0 {
		return nil, errors.New("key set has no usable signing key")
	}
	keys := make([]verificationKey, 0, min(len(usable), maxKeys))
	for _, k := range usable[:min(len(usable), maxKeys)] {
		keys = append(keys, verificationKey{kid: k.KeyID, alg: k.Algorithm, key: k.Public})
	}
	return keys, nil
}

// Key is a usable signature verification key of a JWK Set.
type Key struct {
	// KeyID is the JWK's `kid`, "" when absent.
	KeyID string
	// Type is the JWK's `kty`.
	Type string
	// Algorithm is the JWK's `alg`, "" when unrestricted.
	Algorithm string
	// Public is a *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public any
}

// Fits reports whether the key may verify a token signed with alg, by
// the Verifier's rules: the key's type and curve match the algorithm
// family, and its own alg, when set, is alg (EdDSA and Ed25519 name the
// same signature for an Ed25519 key).
func (k Key) Fits(alg string) bool {
	return verificationKey{kid: k.KeyID, alg: k.Algorithm, key: k.Public}.fits(alg)
}

// SkippedKey is a member of a JWK Set that the Verifier ignores.
type SkippedKey struct {
	// KeyID, Type and Algorithm are the JWK's `kid`, `kty` and `alg`, as
	// far as they read.
	KeyID, Type, Algorithm string
	// Why says why it is ignored.
	Why string
}

// ClassifyKeys decodes a JWK Set (RFC 7517 §5) and sorts its members as
// the Verifier does: public RSA keys of at least 2048 bits, EC and
// Ed25519 keys meant for signatures are usable; keys that do not parse,
// symmetric keys, keys with private material and encryption keys are
// skipped (one odd key does not hide the others). Only a body that is
// not a JWK Set is an error.
func ClassifyKeys(body []byte) (usable []Key, skipped []SkippedKey, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("decoding key set: %w", err)
	}
	for _, raw := range set.Keys {
		var head struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		_ = json.Unmarshal(raw, &head)
		why := ""
		var jwk jose.JSONWebKey
		perr := jwk.UnmarshalJSON(raw)
		_, symmetric := jwk.Key.([]byte)
		switch {
		case perr == nil && symmetric:
			why = "symmetric key"
		case perr != nil || !jwk.Valid():
			why = "does not parse"
		case head.Use != "" && head.Use != "sig":
			why = "use " + strconv.Quote(head.Use)
		case !jwk.IsPublic():
			why = "holds private key material"
		default:
			switch k := jwk.Key.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < minRSABits {
					why = fmt.Sprintf("RSA key of %d bits, less than %d", k.N.BitLen(), minRSABits)
				}
			case *ecdsa.PublicKey, ed25519.PublicKey:
			default:
				why = "unsupported key type"
			}
		}
		if why != "" {
			skipped = append(skipped, SkippedKey{KeyID: head.Kid, Type: head.Kty, Algorithm: head.Alg, Why: why})
			continue
		}
		usable = append(usable, Key{KeyID: jwk.KeyID, Type: head.Kty, Algorithm: jwk.Algorithm, Public: jwk.Key})
	}
	return usable, skipped, nil
}

// cacheMaxAge reads the Cache-Control max-age of a response; no-store and
// no-cache win over a max-age and count as zero.
func cacheMaxAge(h http.Header) (time.Duration, bool) {
	const maxSeconds = int64(365 * 24 * time.Hour / time.Second)
	age, found := time.Duration(0), false
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-store" || d == "no-cache" {
				return 0, true
			}
			v, ok := strings.CutPrefix(d, "max-age=")
			if !ok || found {
				continue
			}
			n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			age, found = time.Duration(min(n, maxSeconds))*time.Second, true
		}
	}
	return age, found
}
