// Package authserver is Portcullis's own OAuth 2.1 authorization server
// for the protected resources (MCP servers) it guards: RFC 8414
// metadata, the authorization code grant with PKCE S256 and RFC 8707
// resource indicators, refresh tokens rotated on every use with reuse
// detection, consent remembered per user, client, resource and scope
// set, RFC 7009 revocation, and short-lived access tokens (JWTs, ES256)
// signed with the gateway's own keys.
//
// The server does not authenticate users or know clients: the adapter
// signs the user in through the browser session, resolves clients
// (Client ID Metadata Documents, RFC 7591) and hands this package the
// results. State (codes, grants with their refresh-token family,
// consents, a generated signing key) lives in a store.Store under the
// configured prefix, each record in its own Redis Cluster hash slot and
// with a TTL. Code redemption and refresh rotation are read, decide,
// compare-and-swap (one Lua script on Redis), so two replicas racing on
// one code or refresh token cannot both win.
//
// Secrets (codes, refresh tokens) are stored only as SHA-256 hashes and
// never appear in errors. The package is plain Go (no Caddy, no zap).
// Errors start with "authserver: ".
package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Defaults applied to zero Options fields.
const (
	// DefaultAccessTokenLifetime is how long an access token is valid.
	DefaultAccessTokenLifetime = 10 * time.Minute
	// DefaultRefreshTokenLifetime is how long a refresh token stays
	// usable without being used; each refresh starts it again.
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	// DefaultConsentLifetime is how long a consent is remembered.
	DefaultConsentLifetime = 90 * 24 * time.Hour
	// DefaultCodeLifetime is how long an authorization code may be redeemed.
	DefaultCodeLifetime = time.Minute
	// usedCodeTTL is how long a redeemed code is remembered, so that a
	// replay is recognised (and revokes what the code issued).
	usedCodeTTL = 10 * time.Minute
	// maxUsedRefresh bounds the rotated refresh-token hashes a grant
	// remembers for reuse detection.
	maxUsedRefresh = 64
)

// Options configures a Server.
type Options struct {
	// Issuer is the server's issuer identifier (RFC 8414 §2), the `iss`
	// of its tokens and of authorization responses (RFC 9207). Required.
	Issuer string
	// Store holds codes, grants, consents and a generated key. Required.
	Store store.Store
	// Prefix of every store key. Default: "pcl".
	Prefix string
	// SigningKeys sign access tokens (ES256): the first signs, all are
	// published, so keys rotate by adding the new one second, then
	// moving it first. Default: one P-256 key generated on first use and
	// kept in the store, shared by every replica.
	SigningKeys []*ecdsa.PrivateKey
	// Resources maps each resource URI a client may ask a token for to
	// the scopes it supports (none: any scope the user has).
	Resources map[string][]string
	// AccessTokenLifetime: default DefaultAccessTokenLifetime.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime: default DefaultRefreshTokenLifetime.
	RefreshTokenLifetime time.Duration
	// ConsentLifetime: default DefaultConsentLifetime.
	ConsentLifetime time.Duration
	// CodeLifetime: default DefaultCodeLifetime.
	CodeLifetime time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Server is the authorization server. It is safe for concurrent use.
type Server struct {
	o    Options
	swap swapper
	keys *keyring
}

// New checks o and returns a server. It does no I/O.
func New(o Options) (*Server, error) {
	if o.Issuer == "" {
		return nil, errors.New("authserver: an issuer is required")
	}
	if o.Store == nil {
		return nil, errors.New("authserver: a store is required")
	}
	if len(o.Resources) == 0 {
		return nil, errors.New("authserver: at least one resource is required")
	}
	if o.Prefix == "" {
		o.Prefix = "pcl"
	}
	if err := store.ValidatePrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.AccessTokenLifetime, DefaultAccessTokenLifetime)
	def(&o.RefreshTokenLifetime, DefaultRefreshTokenLifetime)
	def(&o.ConsentLifetime, DefaultConsentLifetime)
	def(&o.CodeLifetime, DefaultCodeLifetime)
	for _, d := range []time.Duration{o.AccessTokenLifetime, o.RefreshTokenLifetime, o.ConsentLifetime, o.CodeLifetime} {
		if d < 0 {
			return nil, errors.New("authserver: lifetimes must not be negative")
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, swap: swapperFor(o.Store)}
	s.keys = &keyring{configured: o.SigningKeys, st: o.Store, storeKey: store.Key(o.Prefix, "as", "signing-key")}
	if len(o.SigningKeys) > 0 {
		ks, err := newKeySet(o.SigningKeys)
		if err != nil {
			return nil, err
		}
		s.keys.loaded = ks
	}
	return s, nil
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.o.Issuer }

// AccessTokenLifetime returns the lifetime of access tokens.
func (s *Server) AccessTokenLifetime() time.Duration { return s.o.AccessTokenLifetime }

// JWKS returns the public keys (RFC 7517 JWK Set), loading or generating
// the stored key on first use.
func (s *Server) JWKS(ctx context.Context) ([]byte, error) {
	ks, err := s.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	return ks.jwks, nil
}

// Error is a refusal in OAuth terms: Code is the RFC 6749 error code
// (invalid_request, invalid_grant, invalid_target …), Description a
// sentence for the client, Reason a short machine-readable audit reason.
type Error struct {
	Code        string
	Description string
	Reason      string
}

func (e *Error) Error() string { return "authserver: " + e.Code + ": " + e.Description }

// oauthErr builds an *Error.
func oauthErr(code, reason, desc string) *Error {
	return &Error{Code: code, Reason: reason, Description: desc}
}

// ErrUnavailable is returned (wrapped) when the store fails.
var ErrUnavailable = errors.New("authserver: state unavailable")

// unavailable wraps a store failure.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashOf is the hex SHA-256 of a secret: what the store keeps.
func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// HashRef is a short non-reversible reference to an id for logs.
func HashRef(id string) string {
	if id == "" {
		return ""
	}
	return hashOf(id)[:16]
}
