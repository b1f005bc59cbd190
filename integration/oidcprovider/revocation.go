package oidcprovider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
)

// TokenKind is what a revoked token turned out to be.
type TokenKind string

// The kinds of Revocation.Kind.
const (
	// TokenKindRefresh is a refresh token the provider issued.
	TokenKindRefresh TokenKind = "refresh_token"
	// TokenKindAccess is an access token the provider issued.
	TokenKindAccess TokenKind = "access_token"
	// TokenKindUnknown is anything else: garbage, a token of another
	// issuer, a refresh token already used or revoked, or a request the
	// provider refused before looking at the token.
	TokenKindUnknown TokenKind = "unknown"
)

// Revocation is the record of one request to the revocation endpoint
// (RFC 7009). It never holds the token itself.
type Revocation struct {
	// TokenTypeHint is the token_type_hint parameter ("" when absent).
	TokenTypeHint string
	// Kind is what the token turned out to be.
	Kind TokenKind
	// Subject is the token's user ID (or client ID for a client_credentials
	// token), when the token was recognised.
	Subject string
	// ClientID is the authenticated client; empty when authentication failed.
	ClientID string
	// Active reports whether the token was live (issued, unexpired and not
	// yet revoked) when the request arrived.
	Active bool
	// TokenHash is TokenFingerprint of the token parameter.
	TokenHash string
	// Status is the HTTP status the provider answered.
	Status int
}

// TokenFingerprint returns the first 8 bytes of the token's SHA-256, in
// hex: what Revocation.TokenHash holds, to match a record to a token.
func TokenFingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// revocationLog keeps the revocation requests in order.
type revocationLog struct {
	mu  sync.Mutex
	all []Revocation
}

func (l *revocationLog) add(r Revocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, r)
}

func (l *revocationLog) list() []Revocation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Revocation(nil), l.all...)
}

type revocationKey struct{}

// presentedTokenKey carries the token parameter of a revocation request
// to RevokeToken, which must not trust what the op package made of it:
// a token it cannot read as a refresh token of the authenticated client
// it "decrypts" as an access token ID and subject, and random bytes
// sometimes pass.
type presentedTokenKey struct{}

// withRevocationLog wraps the revocation endpoint: the storage fills in the
// record it puts into the request context (RevokeToken), the wrapper adds
// the parameters and the answer's status and logs it.
func (p *Provider) withRevocationLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &Revocation{Kind: TokenKindUnknown}
		presented := ""
		if err := r.ParseForm(); err == nil {
			rec.TokenTypeHint = r.Form.Get("token_type_hint")
			presented = r.Form.Get("token")
			rec.TokenHash = TokenFingerprint(presented)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx := context.WithValue(context.WithValue(r.Context(), revocationKey{}, rec), presentedTokenKey{}, presented)
		next.ServeHTTP(sw, r.WithContext(ctx))
		rec.Status = sw.status
		p.store.revocations.add(*rec)
	})
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader implements http.ResponseWriter.
func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.wrote = true
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Revocations returns every request the revocation endpoint received,
// oldest first. With Config.NoRevocation it is always empty.
func (p *Provider) Revocations() []Revocation { return p.store.revocations.list() }
