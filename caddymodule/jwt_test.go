package caddymodule

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testJWTAudience is the audience the test issuers' tokens carry.
const testJWTAudience = "api://orders"

// testIssuer is a JWT issuer for handler tests: a JWKS served over
// loopback and a key that signs tokens for it.
type testIssuer struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{key: key}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	ti.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) issuer() string { return ti.srv.URL }

// config trusts the issuer, under name (none when empty).
func (ti *testIssuer) config(name string) JWTIssuerConfig {
	return JWTIssuerConfig{Issuer: ti.issuer(), Name: name, JWKSURI: ti.srv.URL + "/keys", Audiences: []string{testJWTAudience}}
}

// mint signs an access token for sub with claims over (nil deletes).
func (ti *testIssuer) mint(t *testing.T, over map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": ti.issuer(), "sub": "reader-bot", "aud": testJWTAudience, "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ti.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newJWTHandler sets up h against an app trusting issuers (and one API
// key, returned, accepted in Authorization only), with a real verifier.
func newJWTHandler(t *testing.T, issuers []JWTIssuerConfig, h Handler) (*Handler, testKey) {
	t.Helper()
	return newAppHandler(t, issuers, "", h)
}

// bearer is the header map of a request with token.
func bearer(token string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + token}}
}

// TestJWTClockSkew: `clock_skew 0s` (Caddyfile) and `"clock_skew": 0`
// (JSON) mean no leeway, not the 60 s default an unset value means.
func TestJWTClockSkew(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	tests := []struct {
		name     string
		json     string // the issuer's clock_skew member, "" for none
		wantSkew *time.Duration
		expired1 int // status for a token that expired 5 s ago
	}{
		{name: "unset means the default", wantSkew: nil, expired1: http.StatusOK},
		{name: "explicit zero means none", json: `,"clock_skew":0`, wantSkew: new(time.Duration(0)), expired1: http.StatusUnauthorized},
		{name: "explicit value", json: `,"clock_skew":2000000000`, wantSkew: new(2 * time.Second), expired1: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var j JWTIssuerConfig
			raw := `{"issuer":"` + ti.issuer() + `","jwks_uri":"` + ti.srv.URL + `/keys","audiences":["` + testJWTAudience + `"]` + tt.json + `}`
			if err := json.Unmarshal([]byte(raw), &j); err != nil {
				t.Fatal(err)
			}
			opts, err := (&App{JWT: []JWTIssuerConfig{j}}).jwtOptions()
			if err != nil {
				t.Fatal(err)
			}
			got := opts.Issuers[0].ClockSkew
			if (got == nil) != (tt.wantSkew == nil) || got != nil && *got != *tt.wantSkew {
				t.Fatalf("ClockSkew = %v, want %v", got, tt.wantSkew)
			}
			h, _ := newJWTHandler(t, []JWTIssuerConfig{j}, Handler{})
			exp := time.Now().Add(-5 * time.Second).Unix()
			w, _ := serve(t, h, "GET", bearer(ti.mint(t, map[string]any{"exp": exp})))
			if w.Code != tt.expired1 {
				t.Fatalf("token expired 5 s ago: %d, want %d", w.Code, tt.expired1)
			}
		})
	}
	// The Caddyfile writes what it reads: 0s stays an explicit zero.
	out, _, err := adapt(t, []byte("{\n\tportcullis {\n\t\tjwt https://idp.example.com {\n\t\t\taudience api\n\t\t\tclock_skew 0s\n\t\t}\n\t}\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"clock_skew":0`) {
		t.Fatalf("adapted JSON %s lacks an explicit clock_skew 0", out)
	}
}
