package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// jwtIssuer is a minimal issuer for the benchmark: an RS256 key whose
// JWKS is served on loopback, and tokens signed with it.
type jwtIssuer struct {
	url    string
	signer jose.Signer
	srv    *http.Server
}

func newJWTIssuer() (*jwtIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: key.Public(), KeyID: "bench", Algorithm: "RS256", Use: "sig"}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "bench"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &jwtIssuer{url: "http://" + l.Addr().String(), signer: signer, srv: srv}, nil
}

// token signs a token for subject n.
func (j *jwtIssuer) token(n int) (string, error) {
	now := time.Now()
	c := struct {
		jwt.Claims
		Scope string `json:"scope"`
	}{jwt.Claims{Issuer: j.url, Subject: fmt.Sprintf("client-%d", n), Audience: jwt.Audience{"bench"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}, "bench:read"}
	return jwt.Signed(j.signer).Claims(c).Serialize()
}

// tokensFile signs n distinct tokens (in parallel) into a file, one per line.
func (j *jwtIssuer) tokensFile(dir string, n int) (string, error) {
	toks := make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				t, err := j.token(i)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				toks[i] = t
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return "", firstErr
	}
	path := filepath.Join(dir, "tokens.txt")
	return path, os.WriteFile(path, []byte(strings.Join(toks, "\n")+"\n"), 0o600)
}

func (j *jwtIssuer) close() { _ = j.srv.Close() }
