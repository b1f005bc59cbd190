package oidcprovider_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// login runs the code flow for bob with PKCE and the extra authorization
// parameters (scope defaults to "openid email"), and exchanges the code.
// It returns the token response and the authorization response.
func login(t *testing.T, p *oidcprovider.Provider, a *agent, clientID, secret string, extra url.Values) (*oidcprovider.TokenResponse, url.Values) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	resp := a.authorize(clientID, q)
	if resp.StatusCode == http.StatusOK {
		resp = a.submit(resp, bob.Username, bob.Password)
	}
	params := redirectParams(t, resp)
	if params.Get("code") == "" {
		t.Fatalf("authorization response without code: %v", params)
	}
	tr, err := p.PostToken(context.Background(), clientID, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {params.Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatalf("exchanging code: %v", err)
	}
	return tr, params
}

// refresh runs the refresh_token grant.
func refresh(p *oidcprovider.Provider, clientID, secret, rt string) (*oidcprovider.TokenResponse, error) {
	return p.PostToken(context.Background(), clientID, secret, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {rt},
	})
}

// getJSON fetches u (with a bearer token when set) and decodes the JSON
// object it answers with status 200.
func getJSON(t *testing.T, u, bearer string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", u, resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: decoding %s: %v", u, body, err)
	}
	return out
}

// postForm posts form to u with client_secret_basic and returns the status
// and body.
func postForm(t *testing.T, u, clientID, secret string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// jwtParts splits a compact JWS into its decoded header and claims, the
// signing input and the signature, without verifying anything.
func jwtParts(t *testing.T, token string) (header, claims map[string]any, input, sig []byte) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	decode := func(s string, into *map[string]any) {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("decoding JWS part: %v", err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("decoding JWS part %s: %v", raw, err)
		}
	}
	decode(parts[0], &header)
	decode(parts[1], &claims)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("decoding signature: %v", err)
	}
	return header, claims, []byte(parts[0] + "." + parts[1]), sig
}

// jwk is one key of the JWKS, as published.
type jwk struct {
	Kty, Kid, Alg, Use, Crv, X, Y, N, E string
}

// jwks fetches the provider's JWKS.
func jwks(t *testing.T, p *oidcprovider.Provider) []jwk {
	t.Helper()
	resp, err := http.Get(p.JWKSURL())
	if err != nil {
		t.Fatalf("GET JWKS: %v", err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decoding JWKS: %v", err)
	}
	return set.Keys
}

// verifyJWS checks token's signature by hand (crypto/rsa, crypto/ecdsa,
// crypto/ed25519) against the key of its kid in the JWKS, which must have
// the token's alg, and returns the header and claims.
func verifyJWS(t *testing.T, p *oidcprovider.Provider, token string) (header, claims map[string]any, err error) {
	t.Helper()
	header, claims, input, sig := jwtParts(t, token)
	for _, k := range jwks(t, p) {
		if k.Kid != header["kid"] {
			continue
		}
		if k.Alg != header["alg"] {
			return header, claims, fmt.Errorf("token alg %v, key alg %s", header["alg"], k.Alg)
		}
		return header, claims, verifyWithJWK(t, k, input, sig)
	}
	return header, claims, fmt.Errorf("no key %v in the JWKS", header["kid"])
}

// verifyWithJWK verifies one signature.
func verifyWithJWK(t *testing.T, k jwk, input, sig []byte) error {
	t.Helper()
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("decoding JWK member: %v", err)
		}
		return b
	}
	digest := sha256.Sum256(input)
	switch {
	case k.Alg == "RS256" && k.Kty == "RSA":
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(b64(k.N)), E: int(new(big.Int).SetBytes(b64(k.E)).Int64())}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case k.Alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256":
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, b64(k.X)...), b64(k.Y)...))
		if err != nil {
			return err
		}
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return fmt.Errorf("ES256 signature does not verify")
		}
		return nil
	case k.Alg == "Ed25519" && k.Kty == "OKP" && k.Crv == "Ed25519":
		if !ed25519.Verify(ed25519.PublicKey(b64(k.X)), input, sig) {
			return fmt.Errorf("Ed25519 signature does not verify")
		}
		return nil
	default:
		return fmt.Errorf("unexpected key kty %s crv %s alg %s", k.Kty, k.Crv, k.Alg)
	}
}

// mustVerify is verifyJWS that fails the test on a bad signature.
func mustVerify(t *testing.T, p *oidcprovider.Provider, token string) (header, claims map[string]any) {
	t.Helper()
	header, claims, err := verifyJWS(t, p, token)
	if err != nil {
		t.Fatalf("verifying %v token: %v", header["typ"], err)
	}
	return header, claims
}
