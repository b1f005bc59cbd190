package assertion

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyWithJWKS(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	old, cur := newKey(t), newKey(t)
	s, err := NewSigner([]*ecdsa.PrivateKey{cur, old}, Options{Issuer: "https://gw.example", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p := principal.Principal{Subject: "alice", Method: principal.MethodJWT, Email: "a@example.com", Scopes: []string{"orders:read"}, Groups: []string{"staff"}}
	token, err := s.Sign(p, "orders-api")
	if err != nil {
		t.Fatal(err)
	}
	// A verifier with only the JWKS (as JSON, as served).
	raw, _ := json.Marshal(s.JWKS())
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS: %s %v", raw, err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", tok.Headers[0].KeyID)
	}
	var c claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verifying with the JWKS key: %v", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: "https://gw.example", AnyAudience: jwt.Audience{"orders-api"}, Time: now}, 0); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Scope != "orders:read" || c.Method != "jwt" || c.Expiry.Time().Sub(now) != DefaultTTL {
		t.Fatalf("claims: %+v", c)
	}
	if priv, _ := x509.MarshalECPrivateKey(cur); len(raw) == 0 || bytes.Contains(raw, priv) {
		t.Fatal("JWKS leaks the private key")
	}
}

func TestSignCaches(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s, _ := NewSigner([]*ecdsa.PrivateKey{newKey(t)}, Options{Issuer: "gw", Now: func() time.Time { return now }})
	p := principal.Principal{Subject: "alice", Method: principal.MethodAPIKey}
	a, _ := s.Sign(p, "x")
	b, _ := s.Sign(p, "x")
	c, _ := s.Sign(p, "y")
	if a != b || a == c {
		t.Fatal("cache by principal and audience is wrong")
	}
	now = now.Add(31 * time.Second)
	if d, _ := s.Sign(p, "x"); d == a {
		t.Fatal("an assertion was reused past half its lifetime")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	ec := newKey(t)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384b, _ := x509.MarshalECPrivateKey(p384)
	for _, tt := range []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), true},
		{"pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), true},
		{"rsa", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsa8}), false},
		{"p384", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384b}), false},
		{"garbage", []byte("nope"), false},
	} {
		if _, err := ParseKey(tt.pem); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func BenchmarkSignCached(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := NewSigner([]*ecdsa.PrivateKey{k}, Options{Issuer: "gw"})
	p := principal.Principal{Subject: "alice", Method: principal.MethodJWT, Scopes: []string{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(p, "aud"); err != nil {
			b.Fatal(err)
		}
	}
}
