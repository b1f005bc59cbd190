package oidcflow

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// idToken is a verified ID token (OpenID Connect Core §3.1.3.7).
type idToken struct {
	claims  map[string]any
	subject string
	nonce   string
	alg     string
}

// verifySigned checks a compact JWS from the provider (ID token, logout
// token, signed UserInfo) with the provider's keys and returns its
// claims and its `alg`. Key-set outages are ErrUnavailable; anything
// else wraps bad (ErrIDToken, ErrLogoutToken, ErrUserInfo).
func (c *Client) verifySigned(ctx context.Context, p *provider, raw string, bad error) (map[string]any, string, error) {
	payload, err := p.keys.VerifySignature(ctx, raw)
	if err != nil {
		if errors.Is(err, jwtauth.ErrUnavailable) {
			return nil, "", fmt.Errorf("%w: the provider's keys cannot be fetched: %s", ErrUnavailable, firstLine(err.Error()))
		}
		return nil, "", fmt.Errorf("%w: %s", bad, firstLine(err.Error()))
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, "", fmt.Errorf("%w: the claims are not a JSON object", bad)
	}
	alg, _ := joseHeader(raw)
	return claims, alg, nil
}

// joseHeader returns the `alg` and `typ` of a compact JWS's header; ""
// when absent or unreadable (the signature check refuses those).
func joseHeader(raw string) (alg, typ string) {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", ""
	}
	var h struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Alg, h.Typ
}

// verifyIDToken verifies an ID token from the token endpoint: signature
// and algorithm, then iss (byte for byte), aud (our client id; with
// several audiences azp must be us, and a present azp must always be
// us), exp, iat (required; not in the future), nbf, and a non-empty sub.
// Nonce, at_hash and auth_time are the caller's.
func (c *Client) verifyIDToken(ctx context.Context, p *provider, raw string) (*idToken, error) {
	claims, alg, err := c.verifySigned(ctx, p, raw, ErrIDToken)
	if err != nil {
		return nil, err
	}
	if err := c.checkTokenClaims(claims, ErrIDToken, true, true); err != nil {
		return nil, err
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, fmt.Errorf("%w: no sub", ErrIDToken)
	}
	nonce, _ := claims["nonce"].(string)
	return &idToken{claims: claims, subject: sub, nonce: nonce, alg: alg}, nil
}

// checkTokenClaims checks iss, aud and azp of a token from the
// provider, then its times (see checkTimes).
func (c *Client) checkTokenClaims(claims map[string]any, bad error, needExp, needIat bool) error {
	if err := c.checkIssuerAudience(claims, bad); err != nil {
		return err
	}
	aud, _ := audiences(claims["aud"])
	azp, hasAzp := claims["azp"]
	if hasAzp || len(aud) > 1 {
		if s, _ := azp.(string); s != c.cfg.ClientID {
			return fmt.Errorf("%w: azp does not name this client", bad)
		}
	}
	return c.checkTimes(claims, bad, needExp, needIat)
}

// checkIssuerAudience checks that iss is the issuer, byte for byte, and
// that aud names this client.
func (c *Client) checkIssuerAudience(claims map[string]any, bad error) error {
	if iss, _ := claims["iss"].(string); iss != c.cfg.Issuer {
		return fmt.Errorf("%w: iss %q is not the configured issuer", bad, short(iss))
	}
	aud, ok := audiences(claims["aud"])
	if !ok || !slices.Contains(aud, c.cfg.ClientID) {
		return fmt.Errorf("%w: aud does not name this client", bad)
	}
	return nil
}

// checkTimes checks exp (required when needExp; not past), iat
// (required when needIat; not in the future) and nbf, with the clock
// skew.
func (c *Client) checkTimes(claims map[string]any, bad error, needExp, needIat bool) error {
	now := c.now()
	exp, hasExp, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", bad, err)
	case !hasExp && needExp:
		return fmt.Errorf("%w: no exp", bad)
	case hasExp && !now.Before(exp.Add(c.skew)):
		return fmt.Errorf("%w: expired", bad)
	}
	iat, hasIat, err := numericDate(claims, "iat")
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", bad, err)
	case !hasIat && needIat:
		return fmt.Errorf("%w: no iat", bad)
	case hasIat && iat.After(now.Add(c.skew)):
		return fmt.Errorf("%w: issued in the future (iat); check the clocks or clock_skew", bad)
	}
	nbf, hasNbf, err := numericDate(claims, "nbf")
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", bad, err)
	case hasNbf && nbf.After(now.Add(c.skew)):
		return fmt.Errorf("%w: not valid yet (nbf)", bad)
	}
	return nil
}

// audiences reads `aud`: a string or a non-empty list of strings.
func audiences(v any) ([]string, bool) {
	switch a := v.(type) {
	case string:
		return []string{a}, a != ""
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// numericDate reads a NumericDate claim; ok is false when absent.
func numericDate(claims map[string]any, name string) (t time.Time, ok bool, err error) {
	v, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || f < 0 || f > 1e12 {
		return time.Time{}, false, fmt.Errorf("%s is not a NumericDate", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true, nil
}

// verifyAccessTokenHash checks an ID token's at_hash against the access
// token (OIDC Core §3.1.3.8): the left half of the hash of the alg's
// hash function, base64url. Ed25519 and EdDSA use SHA-512, as the
// OpenID Foundation settled for EdDSA.
func verifyAccessTokenHash(alg, atHash, accessToken string) error {
	var h hash.Hash
	switch alg {
	case "RS256", "ES256", "PS256":
		h = sha256.New()
	case "RS384", "ES384", "PS384":
		h = sha512.New384()
	case "RS512", "ES512", "PS512", "EdDSA", "Ed25519":
		h = sha512.New()
	default:
		return fmt.Errorf("%w: at_hash with an unknown algorithm", ErrIDToken)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	if !constantTimeEqual(base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), atHash) {
		return fmt.Errorf("%w: at_hash does not match the access token", ErrIDToken)
	}
	return nil
}

// short quotes at most 64 bytes of a value from a token, for errors.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
