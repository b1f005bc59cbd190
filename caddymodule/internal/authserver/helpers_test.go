package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const (
	testIssuer   = "https://gw.example.com"
	testResource = "https://mcp.example.com/mcp"
	otherRes     = "https://other.example.com/mcp"
	testClient   = "https://client.example.com/meta.json"
	testRedirect = "http://127.0.0.1:7777/callback"
	testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXkdBjftJeZ4CVP"
)

// challengeOf is the S256 challenge of a verifier.
func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// backend opens stores that share state, as replicas' clients do.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

func memoryBackend(t *testing.T) backend {
	clock := fakeclock.New()
	m, err := store.NewMemory(store.MemoryOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return backend{name: "memory", open: func(*testing.T) store.Store { return m }}
}

func redisBackend(t *testing.T) backend {
	url := redistest.SharedStandalone(t).URL()
	return backend{name: "redis", open: func(t *testing.T) store.Store {
		// Generous timeouts: the default 50ms fails on a busy machine.
		r, err := store.NewRedis(store.RedisConfig{URL: url, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}}
}

// newServer returns a server on a store of b with a fake clock and a
// prefix of its own (tests share the Redis server).
func newServer(t *testing.T, st store.Store, clock *fakeclock.Clock, prefix string) *Server {
	t.Helper()
	s, err := New(Options{
		Issuer: testIssuer, Store: st, Prefix: prefix, Now: clock.Now,
		Resources: map[string][]string{testResource: {"tools:read", "tools:deploy"}, otherRes: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorized runs the authorization step: a checked request and a code.
func authorized(t *testing.T, s *Server) (AuthRequest, string) {
	t.Helper()
	q := map[string][]string{
		"response_type": {"code"}, "code_challenge": {challengeOf(testVerifier)}, "code_challenge_method": {"S256"},
		"resource": {testResource}, "scope": {"tools:read"}, "state": {"xyz"},
	}
	req, aerr := s.CheckAuthorize(q, testClient, testRedirect)
	if aerr != nil {
		t.Fatalf("CheckAuthorize: %v", aerr)
	}
	code, err := s.IssueCode(context.Background(), req, Identity{Subject: "idp:alice", ACR: "mfa", AMR: []string{"pwd", "otp"}}, req.Scopes)
	if err != nil {
		t.Fatalf("IssueCode: %v", err)
	}
	return req, code
}

// exchange redeems code as the client would.
func exchange(s *Server, code string) (Tokens, error) {
	t, _, err := s.Exchange(context.Background(), CodeExchange{Code: code, ClientID: testClient, RedirectURI: testRedirect, Verifier: testVerifier, Resource: testResource})
	return t, err
}
