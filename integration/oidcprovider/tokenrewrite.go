package oidcprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The op package signs every JWT with the JOSE header typ "JWT", knows
// Ed25519 only as alg "EdDSA" and puts client_id into ID tokens, with no
// hook to change any of it. Every JWT it issues leaves through the token
// endpoint (the provider allows only the code flow), so the provider
// post-processes token endpoint responses:
//
//   - a JWT access token is re-signed, payload unchanged, with the typ of
//     Config.AccessTokenJWTType ("at+jwt", RFC 9068) and the published alg;
//   - the ID token is re-signed with the published alg and an at_hash that
//     matches the final access token; in the strict profile without
//     client_id, which is no ID token claim, and without c_hash, which
//     belongs to hybrid flow ID tokens only.
//
// A re-signed token keeps the key (kid) the op package chose. A response
// that needs none of this passes unchanged.

// withTokenRewrite wraps the token endpoint; next must be the op handler.
func (p *Provider) withTokenRewrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			rewritten, err := p.rewriteTokenResponse(body)
			if err != nil {
				if p.logf != nil {
					p.logf("oidcprovider: rewriting token response: %v", err)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":"server_error","error_description":"rewriting token response failed"}`))
				return
			}
			body = rewritten
		}
		rec.writeTo(w, body)
	})
}

// rewriteTokenResponse rewrites one token endpoint JSON response.
func (p *Provider) rewriteTokenResponse(body []byte) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decoding token response: %w", err)
	}
	var at, idt string
	_ = json.Unmarshal(resp["access_token"], &at)
	_ = json.Unmarshal(resp["id_token"], &idt)
	changed := false
	if strings.Count(at, ".") == 2 { // a JWT, not an opaque token
		payload, key, err := p.verifyOwn(at)
		if err != nil {
			return nil, fmt.Errorf("reading access token: %w", err)
		}
		if p.atType != "JWT" || key.renamed() {
			if at, err = sign(key, p.atType, payload); err != nil {
				return nil, err
			}
			if resp["access_token"], err = json.Marshal(at); err != nil {
				return nil, fmt.Errorf("encoding access token: %w", err)
			}
			changed = true
		}
	}
	if idt != "" {
		newIDT, rewritten, err := p.rewriteIDToken(idt, at, changed)
		if err != nil {
			return nil, err
		}
		if rewritten {
			if resp["id_token"], err = json.Marshal(newIDT); err != nil {
				return nil, fmt.Errorf("encoding id token: %w", err)
			}
			changed = true
		}
	}
	if !changed {
		return body, nil
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding token response: %w", err)
	}
	return out, nil
}

// rewriteIDToken re-signs an ID token when needed: with at_hash computed
// for accessToken when atChanged, without client_id and c_hash in the
// strict profile, and with the published alg. It reports whether it changed the token.
func (p *Provider) rewriteIDToken(idToken, accessToken string, atChanged bool) (string, bool, error) {
	payload, key, err := p.verifyOwn(idToken)
	if err != nil {
		return "", false, fmt.Errorf("reading id token: %w", err)
	}
	if !atChanged && !key.renamed() && p.profile != Strict {
		return idToken, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return "", false, fmt.Errorf("decoding id token claims: %w", err)
	}
	if atChanged && accessToken != "" {
		// The hash of the alg's family: SHA-256 for RS256 and ES256, SHA-512
		// for Ed25519 (as for EdDSA).
		if claims["at_hash"], err = oidc.ClaimHash(accessToken, key.SignatureAlgorithm()); err != nil {
			return "", false, fmt.Errorf("computing at_hash: %w", err)
		}
	}
	if p.profile == Strict {
		delete(claims, "client_id")
		delete(claims, "c_hash") // for hybrid flow ID tokens only (Core §3.3.2.11)
	}
	newPayload, err := json.Marshal(claims)
	if err != nil {
		return "", false, fmt.Errorf("encoding id token claims: %w", err)
	}
	signed, err := sign(key, "JWT", newPayload)
	if err != nil {
		return "", false, err
	}
	return signed, true, nil
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
