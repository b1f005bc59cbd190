package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults applied to a zero Config field.
const (
	// DefaultClockSkew is the tolerance applied to exp, nbf and iat.
	DefaultClockSkew = 60 * time.Second
	// DefaultGroupClaim is the claim groups are read from.
	DefaultGroupClaim = "groups"
)

// DefaultAlgorithms is the allow-list used when Config.Algorithms is empty
// and the issuer's keys come from a JWKS. A copy is returned each time.
func DefaultAlgorithms() []string { return []string{"RS256", "PS256", "ES256", "EdDSA", "Ed25519"} }

// Config trusts one issuer. The zero value of each optional field means
// its documented default; Validate reports what cannot work.
type Config struct {
	// Issuer is the exact `iss` value of the issuer's tokens (no
	// normalisation: a trailing slash matters). Required.
	Issuer string
	// DiscoveryURL is the OpenID Provider configuration document whose
	// `jwks_uri` names the key set; its `issuer` must equal Issuer (OpenID
	// Connect Discovery 1.0 §4.3). Default: Issuer (without a trailing
	// slash) + "/.well-known/openid-configuration". Unused when JWKSURL is set.
	DiscoveryURL string
	// JWKSURL is the issuer's JWK Set (RFC 7517 §5). When set, discovery
	// is skipped.
	JWKSURL string
	// Audiences are the accepted audiences: the token's `aud` MUST contain
	// at least one of them. Required: a token minted for another resource
	// MUST NOT be accepted here.
	Audiences []string
	// Algorithms is the `alg` allow-list. Known: RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519, HS256, HS384,
	// HS512.
	// `none` is never accepted. HS* require SharedSecret. Default:
	// DefaultAlgorithms(); with a SharedSecret and no JWKSURL or
	// DiscoveryURL, only HS256; with a SharedSecret and a key URL, both.
	Algorithms []string
	// SharedSecret is the HMAC key for HS256/384/512; at least 32, 48 and
	// 64 bytes respectively (RFC 7518 §3.2). HS* tokens are verified only
	// with this secret and asymmetric tokens only with JWKS keys, so
	// algorithm confusion is impossible. Symmetric keys in a JWKS are
	// always ignored.
	SharedSecret []byte
	// ClockSkew is the tolerance applied to exp, nbf and iat. Nil means
	// DefaultClockSkew (60 s); a pointer to zero means none (the times are
	// checked exactly), so an explicit zero is never taken for "unset".
	// Negative is an error.
	ClockSkew *time.Duration
	// RequiredClaims are claims the token MUST carry. A nil value means
	// "present with any value"; otherwise the claim must equal the value
	// as JSON (so true, "x", 3 and ["a","b"] work), or, when the claim is
	// an array and the value is not, contain it. Names are top-level
	// claims, or dotted paths into objects when no top-level claim has
	// the name.
	RequiredClaims map[string]any
	// RequireAccessTokenType makes the `typ` header mandatory and equal to
	// "at+jwt" or "application/at+jwt", case-insensitively (RFC 9068 §4),
	// so ID tokens and other JWTs are refused.
	RequireAccessTokenType bool
	// GroupClaims are the claims groups and roles are read from (string or
	// array of strings), in order, duplicates dropped; dotted paths reach
	// into objects (e.g. "realm_access.roles"). Default: ["groups"].
	GroupClaims []string
}

// algorithm describes one accepted JWS algorithm.
type algorithm struct {
	symmetric bool
	minSecret int // HS*: minimum key length in bytes
}

// algorithms lists every algorithm that may be configured (RFC 7518 §3.1,
// RFC 8037 §3.1).
var algorithms = map[string]algorithm{
	"RS256": {}, "RS384": {}, "RS512": {},
	"PS256": {}, "PS384": {}, "PS512": {},
	"ES256": {}, "ES384": {}, "ES512": {},
	"EdDSA": {},
	// Ed25519 is RFC 9864's fully-specified name for EdDSA with Ed25519,
	// which go-jose does not know; see sigCheck.verifyEd25519.
	"Ed25519": {},
	"HS256":   {symmetric: true, minSecret: 32},
	"HS384":   {symmetric: true, minSecret: 48},
	"HS512":   {symmetric: true, minSecret: 64},
}

// EffectiveAlgorithms returns the issuer's algorithm allow-list with the
// defaults applied (see Config.Algorithms), as the Verifier uses it.
func (c Config) EffectiveAlgorithms() []string { return c.withDefaults().Algorithms }

// withDefaults returns c with defaults filled in. Slices are copied, so
// the result shares nothing mutable with c.
func (c Config) withDefaults() Config {
	c.Audiences = slices.Clone(c.Audiences)
	c.Algorithms = slices.Clone(c.Algorithms)
	c.SharedSecret = slices.Clone(c.SharedSecret)
	c.GroupClaims = slices.Clone(c.GroupClaims)
	if len(c.Algorithms) == 0 {
		switch {
		case len(c.SharedSecret) == 0:
			c.Algorithms = DefaultAlgorithms()
		case c.JWKSURL == "" && c.DiscoveryURL == "":
			c.Algorithms = []string{"HS256"}
		default:
			c.Algorithms = append(DefaultAlgorithms(), "HS256")
		}
	}
	skew := c.skew()
	c.ClockSkew = &skew // a copy: nothing shared with the caller
	if len(c.GroupClaims) == 0 {
		c.GroupClaims = []string{DefaultGroupClaim}
	}
	if c.JWKSURL == "" && c.DiscoveryURL == "" && c.usesKeySet() {
		c.DiscoveryURL = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/openid-configuration"
	}
	return c
}

// skew returns the clock skew: ClockSkew, or DefaultClockSkew when nil
// (never negative: Validate refuses that).
func (c Config) skew() time.Duration {
	if c.ClockSkew == nil {
		return DefaultClockSkew
	}
	return max(*c.ClockSkew, 0)
}

// usesKeySet reports whether an asymmetric algorithm is allowed, so keys
// must come from a JWKS. c must have its defaults filled in.
func (c Config) usesKeySet() bool {
	for _, a := range c.Algorithms {
		if alg, ok := algorithms[a]; ok && !alg.symmetric {
			return true
		}
	}
	return false
}

// Validate reports the first problem that would stop the configuration
// from working, as a message a person can act on. It does no network I/O.
func (c Config) Validate() error {
	if c.Issuer == "" {
		return errors.New("jwtauth: issuer is required")
	}
	if c.ClockSkew != nil && *c.ClockSkew < 0 {
		return fmt.Errorf("jwtauth: issuer %q: clock skew must not be negative, got %v", c.Issuer, *c.ClockSkew)
	}
	d := c.withDefaults()
	if len(d.Audiences) == 0 {
		return fmt.Errorf("jwtauth: issuer %q: at least one audience is required", c.Issuer)
	}
	for _, a := range d.Audiences {
		if a == "" {
			return fmt.Errorf("jwtauth: issuer %q: empty audience", c.Issuer)
		}
	}
	hasHS := false
	for _, name := range d.Algorithms {
		if strings.EqualFold(name, "none") {
			return fmt.Errorf("jwtauth: issuer %q: algorithm none is never accepted", c.Issuer)
		}
		alg, ok := algorithms[name]
		if !ok {
			return fmt.Errorf("jwtauth: issuer %q: unknown algorithm %q (known: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519, HS256, HS384, HS512)", c.Issuer, name)
		}
		if !alg.symmetric {
			continue
		}
		hasHS = true
		if len(d.SharedSecret) == 0 {
			return fmt.Errorf("jwtauth: issuer %q: algorithm %s needs a shared secret", c.Issuer, name)
		}
		if len(d.SharedSecret) < alg.minSecret {
			return fmt.Errorf("jwtauth: issuer %q: algorithm %s needs a shared secret of at least %d bytes, got %d", c.Issuer, name, alg.minSecret, len(d.SharedSecret))
		}
	}
	if len(d.SharedSecret) > 0 && !hasHS {
		return fmt.Errorf("jwtauth: issuer %q: a shared secret is configured but no HS256/HS384/HS512 algorithm is allowed", c.Issuer)
	}
	if d.usesKeySet() {
		if d.JWKSURL != "" {
			if err := checkURL(d.JWKSURL); err != nil {
				return fmt.Errorf("jwtauth: issuer %q: jwks url: %w", c.Issuer, err)
			}
		} else if err := checkURL(d.DiscoveryURL); err != nil {
			return fmt.Errorf("jwtauth: issuer %q: discovery url (set jwks_url or discovery_url if the issuer is not a URL): %w", c.Issuer, err)
		}
	}
	for _, g := range d.GroupClaims {
		if g == "" {
			return fmt.Errorf("jwtauth: issuer %q: empty group claim name", c.Issuer)
		}
	}
	for name, v := range d.RequiredClaims {
		if name == "" {
			return fmt.Errorf("jwtauth: issuer %q: empty required claim name", c.Issuer)
		}
		if _, err := normalizeJSON(v); err != nil {
			return fmt.Errorf("jwtauth: issuer %q: required claim %q: %w", c.Issuer, name, err)
		}
	}
	return nil
}

// checkURL accepts absolute http and https URLs with a host. Plain http
// is meant for tests and loopback only: keys fetched over it can be forged
// by anyone on the path.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// normalizeJSON returns v as encoding/json would decode it into an any
// (float64, string, bool, nil, []any, map[string]any), so it compares
// equal to a decoded claim.
func normalizeJSON(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding value: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding value: %w", err)
	}
	return out, nil
}
