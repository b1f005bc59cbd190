package oidcprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The op package signs every JWT with the JOSE header typ "JWT" and offers
// no hook to change it. RFC 9068 wants "at+jwt" on access tokens, so the
// provider post-processes token endpoint responses: it re-signs the access
// token's unchanged payload with the configured typ, and re-signs the ID
// token with an at_hash that matches the new access token. Everything else
// in the response is kept.

// withAccessTokenType wraps the token endpoint so JWT access tokens carry
// the JOSE header typ. next must be the op handler.
func (p *Provider) withAccessTokenType(typ string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathToken {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			retyped, err := p.retypeTokenResponse(body, typ)
			if err != nil && p.logf != nil {
				p.logf("oidcprovider: setting access token typ: %v", err)
			}
			if err == nil {
				body = retyped
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

// retypeTokenResponse rewrites one token endpoint JSON response.
func (p *Provider) retypeTokenResponse(body []byte, typ string) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decoding token response: %w", err)
	}
	var at string
	if err := json.Unmarshal(resp["access_token"], &at); err != nil || strings.Count(at, ".") != 2 {
		return body, nil // no access token, or an opaque one
	}
	payload, key, err := p.verifyOwn(at)
	if err != nil {
		return nil, fmt.Errorf("reading access token: %w", err)
	}
	newAT, err := sign(key, typ, payload)
	if err != nil {
		return nil, err
	}
	if resp["access_token"], err = json.Marshal(newAT); err != nil {
		return nil, fmt.Errorf("encoding access token: %w", err)
	}
	var idt string
	if raw, ok := resp["id_token"]; ok && json.Unmarshal(raw, &idt) == nil && idt != "" {
		newIDT, err := p.rehashIDToken(idt, newAT)
		if err != nil {
			return nil, err
		}
		if resp["id_token"], err = json.Marshal(newIDT); err != nil {
			return nil, fmt.Errorf("encoding id token: %w", err)
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding token response: %w", err)
	}
	return out, nil
}

// rehashIDToken re-signs an ID token with at_hash computed for accessToken.
func (p *Provider) rehashIDToken(idToken, accessToken string) (string, error) {
	payload, key, err := p.verifyOwn(idToken)
	if err != nil {
		return "", fmt.Errorf("reading id token: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return "", fmt.Errorf("decoding id token claims: %w", err)
	}
	if claims["at_hash"], err = oidc.ClaimHash(accessToken, jose.RS256); err != nil {
		return "", fmt.Errorf("computing at_hash: %w", err)
	}
	newPayload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding id token claims: %w", err)
	}
	return sign(key, "JWT", newPayload)
}

// verifyOwn checks that token was signed by one of the provider's keys and
// returns its payload and that key.
func (p *Provider) verifyOwn(token string) ([]byte, *rsaKey, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, nil, fmt.Errorf("parsing JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, fmt.Errorf("JWS has %d signatures, want 1", len(jws.Signatures))
	}
	key, ok := p.store.keys.byID(jws.Signatures[0].Header.KeyID)
	if !ok {
		return nil, nil, fmt.Errorf("JWS signed with unknown key %q", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(&key.priv.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying JWS: %w", err)
	}
	return payload, key, nil
}

// bufferedResponse captures a handler's response so it can be rewritten.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

// Header implements http.ResponseWriter.
func (b *bufferedResponse) Header() http.Header { return b.header }

// WriteHeader implements http.ResponseWriter.
func (b *bufferedResponse) WriteHeader(code int) {
	if !b.wrote {
		b.wrote = true
		b.status = code
	}
}

// Write implements http.ResponseWriter.
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
