package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
)

// RSA test keys are parsed once per test binary from testkeys_test.go.
var (
	rsaKeyOnce sync.Once
	rsaKeys    [3]*rsa.PrivateKey
)

func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() {
		for j := range rsaKeys {
			rsaKeys[j] = parseTestRSAKey(testRSAPEM[j])
		}
	})
	return rsaKeys[i]
}

// signingKey is a private key with its JWS metadata.
type signingKey struct {
	kid string
	alg string
	key crypto.Signer // nil for HS
	hs  []byte        // HMAC key for HS*
}

func newECKey(t testing.TB, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: "ES256", key: k}
}

func newEdKey(t testing.TB, kid string) signingKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: "EdDSA", key: k}
}

func newRSAKey(t testing.TB, kid, alg string, i int) signingKey {
	t.Helper()
	return signingKey{kid: kid, alg: alg, key: testRSAKey(t, i)}
}

// jwk returns the public JWK of k, with or without kid and alg.
func (k signingKey) jwk(withKid, withAlg bool) jose.JSONWebKey {
	j := jose.JSONWebKey{Key: k.key.Public(), Use: "sig"}
	if withKid {
		j.KeyID = k.kid
	}
	if withAlg {
		j.Algorithm = k.alg
	}
	return j
}

// fakeIdP serves an OpenID discovery document and a JWKS, counts the
// requests, and can rotate keys, fail, or hold requests.
type fakeIdP struct {
	srv       *httptest.Server
	mu        sync.Mutex
	jwks      []jose.JSONWebKey
	rawJWKS   []byte // when set, served instead of jwks
	cacheCtl  string
	discIss   string // issuer in the discovery document; default the server URL
	gate      chan struct{}
	down      atomic.Bool
	discovery atomic.Int64
	fetches   atomic.Int64 // JWKS requests
}

func newFakeIdP(t testing.TB, keys ...jose.JSONWebKey) *fakeIdP {
	t.Helper()
	idp := &fakeIdP{jwks: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		idp.discovery.Add(1)
		if idp.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		idp.mu.Lock()
		iss := idp.discIss
		idp.mu.Unlock()
		if iss == "" {
			iss = idp.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": idp.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		idp.fetches.Add(1)
		idp.mu.Lock()
		gate := idp.gate
		idp.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if idp.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		idp.mu.Lock()
		defer idp.mu.Unlock()
		if idp.cacheCtl != "" {
			w.Header().Set("Cache-Control", idp.cacheCtl)
		}
		if idp.rawJWKS != nil {
			_, _ = w.Write(idp.rawJWKS)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: idp.jwks})
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *fakeIdP) issuer() string { return idp.srv.URL }

func (idp *fakeIdP) setKeys(keys ...jose.JSONWebKey) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.jwks = keys
}

func (idp *fakeIdP) hold() chan struct{} {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.gate = make(chan struct{})
	return idp.gate
}

func (idp *fakeIdP) release(gate chan struct{}) {
	idp.mu.Lock()
	idp.gate = nil
	idp.mu.Unlock()
	close(gate)
}

// fakeClock is a manually advanced clock.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New() }

const testAudience = "https://api.example.com"

// claimsAt returns valid claims for issuer at now.
func claimsAt(iss string, now time.Time) map[string]any {
	return map[string]any{
		"iss":   iss,
		"aud":   testAudience,
		"sub":   "user-1",
		"exp":   now.Add(time.Hour).Unix(),
		"iat":   now.Unix(),
		"scope": "orders:read orders:write",
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var enc = base64.RawURLEncoding

// mint signs claims with k, with a header of alg (k.alg when empty), kid
// (when k has one) and the extra members.
func mint(t testing.TB, k signingKey, claims map[string]any, extra map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": k.alg}
	if k.kid != "" {
		h["kid"] = k.kid
	}
	for n, v := range extra {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	return signRaw(t, k, mustJSON(t, h), mustJSON(t, claims))
}

// signRaw signs the given header and payload JSON texts verbatim, with
// the algorithm the header names (HS* with k.hs).
func signRaw(t testing.TB, k signingKey, headerJSON, payloadJSON string) string {
	t.Helper()
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal([]byte(headerJSON), &h)
	input := enc.EncodeToString([]byte(headerJSON)) + "." + enc.EncodeToString([]byte(payloadJSON))
	return input + "." + enc.EncodeToString(sign(t, h.Alg, k, []byte(input)))
}

func sign(t testing.TB, alg string, k signingKey, input []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(input)
	var sig []byte
	var err error
	switch alg {
	case "HS256":
		m := hmac.New(sha256.New, k.hs)
		m.Write(input)
		return m.Sum(nil)
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, k.key.(*rsa.PrivateKey), crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, k.key.(*ecdsa.PrivateKey), digest[:])
		if e != nil {
			t.Fatal(e)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "EdDSA", "Ed25519":
		sig = ed25519.Sign(k.key.(ed25519.PrivateKey), input)
	default:
		// An algorithm we do not implement here: any bytes will do, the
		// verifier must refuse the token before checking them.
		sig = []byte("not a signature")
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// newTestVerifier builds a Verifier trusting idp for testAudience, with
// the clock, and closes it at cleanup.
func newTestVerifier(t testing.TB, idp *fakeIdP, clock *fakeClock, mutate ...func(*Options)) *Verifier {
	t.Helper()
	o := Options{
		Issuers: []Config{{Issuer: idp.issuer(), Audiences: []string{testAudience}}},
		Now:     clock.Now,
		After:   clock.After,
	}
	for _, m := range mutate {
		m(&o)
	}
	v, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}
