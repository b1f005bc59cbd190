package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Grant is what a user authorized a client to do at a resource, and the
// refresh-token family that carries it. It is revoked as a whole.
type Grant struct {
	ID       string   `json:"id"`
	ClientID string   `json:"c"`
	Resource string   `json:"res"`
	Scopes   []string `json:"sc"`
	Identity Identity `json:"idn"`
	// Refresh is the hash of the current refresh token's secret; Used
	// the hashes of rotated ones (a reuse revokes the grant).
	Refresh string    `json:"rt"`
	Used    []string  `json:"used,omitempty"`
	Created time.Time `json:"ct"`
}

// Tokens is a token response (RFC 6749 §5.1).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// CodeExchange is an authorization_code token request, after client
// authentication.
type CodeExchange struct {
	Code, ClientID, RedirectURI, Verifier, Resource string
}

// Exchange redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6): once only, by the client it was issued to, with the same
// redirect_uri, the PKCE verifier of its challenge and, when sent, the
// same resource. A code presented a second time revokes the grant it
// created (RFC 6749 §4.1.2). The grant is returned for audit.
func (s *Server) Exchange(ctx context.Context, x CodeExchange) (Tokens, *Grant, error) {
	if x.Code == "" {
		return Tokens{}, nil, oauthErr("invalid_request", "code_missing", "code is required")
	}
	key := s.codeKey(x.Code)
	raw, err := s.o.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Tokens{}, nil, oauthErr("invalid_grant", "code_unknown", "the authorization code is not valid")
	}
	if err != nil {
		return Tokens{}, nil, unavailable("reading code", err)
	}
	var rec codeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Tokens{}, nil, oauthErr("invalid_grant", "code_unknown", "the authorization code is not valid")
	}
	if rec.Used {
		g, _ := s.loadGrant(ctx, rec.GrantID)
		if err := s.RevokeGrant(ctx, rec.GrantID); err != nil {
			return Tokens{}, nil, err
		}
		return Tokens{}, g, oauthErr("invalid_grant", "code_replayed", "the authorization code was already used; what it issued is revoked")
	}
	now := s.o.Now()
	if now.After(rec.Expires) {
		return Tokens{}, nil, oauthErr("invalid_grant", "code_expired", "the authorization code has expired")
	}
	// One-time: mark it used before anything else, so that of two
	// redemptions racing (on any replicas) exactly one proceeds.
	used := rec
	used.Used = true
	usedRaw, err := json.Marshal(used)
	if err != nil {
		return Tokens{}, nil, fmt.Errorf("authserver: encoding code: %w", err)
	}
	ok, err := s.swap.swap(ctx, key, raw, usedRaw, usedCodeTTL)
	if err != nil {
		return Tokens{}, nil, unavailable("redeeming code", err)
	}
	if !ok {
		// Another redemption won: this one is a replay.
		if err := s.RevokeGrant(ctx, rec.GrantID); err != nil {
			return Tokens{}, nil, err
		}
		return Tokens{}, nil, oauthErr("invalid_grant", "code_replayed", "the authorization code was already used; what it issued is revoked")
	}
	switch {
	case !equal(rec.ClientID, x.ClientID):
		return Tokens{}, nil, oauthErr("invalid_grant", "code_client_mismatch", "the authorization code was issued to another client")
	case !equal(rec.RedirectURI, x.RedirectURI):
		return Tokens{}, nil, oauthErr("invalid_grant", "redirect_uri_mismatch", "redirect_uri differs from the authorization request's")
	case !pkceMatches(rec.Challenge, x.Verifier):
		return Tokens{}, nil, oauthErr("invalid_grant", "pkce_mismatch", "the code_verifier does not match the code_challenge")
	case x.Resource != "" && x.Resource != rec.Resource:
		return Tokens{}, nil, oauthErr("invalid_target", "resource_mismatch", "the resource differs from the authorization request's")
	}
	g := &Grant{ID: rec.GrantID, ClientID: rec.ClientID, Resource: rec.Resource, Scopes: rec.Scopes, Identity: rec.Identity, Created: now}
	refresh := randomToken()
	g.Refresh = hashOf(refresh)
	graw, err := json.Marshal(g)
	if err != nil {
		return Tokens{}, nil, fmt.Errorf("authserver: encoding grant: %w", err)
	}
	if ok, err := s.o.Store.SetNX(ctx, s.grantKey(g.ID), graw, s.o.RefreshTokenLifetime); err != nil || !ok {
		if err == nil {
			err = errors.New("grant exists")
		}
		return Tokens{}, nil, unavailable("storing grant", err)
	}
	t, err := s.tokens(ctx, g, g.Scopes, g.ID+"."+refresh)
	return t, g, err
}

// RefreshRequest is a refresh_token token request, after client
// authentication.
type RefreshRequest struct {
	Token, ClientID, Resource string
	// Scopes narrows the access token (RFC 6749 §6); none: the grant's.
	Scopes []string
}

// ReasonRefreshReused is the audit reason of a refresh token presented
// after it was rotated: the whole grant is revoked.
const ReasonRefreshReused = "refresh_token_reused"

// Refresh rotates a refresh token (OAuth 2.1 §4.3.1): the presented one
// must be the grant's current one; it is replaced, atomically, by a new
// one. A rotated (older) token presented again means two parties hold
// the family: the grant is revoked (reason refresh_token_reused).
func (s *Server) Refresh(ctx context.Context, x RefreshRequest) (Tokens, *Grant, error) {
	gid, secret, ok := strings.Cut(x.Token, ".")
	if !ok || gid == "" || secret == "" {
		return Tokens{}, nil, oauthErr("invalid_grant", "refresh_token_unknown", "the refresh token is not valid")
	}
	for attempt := 0; attempt < 5; attempt++ {
		raw, g, err := s.readGrant(ctx, gid)
		if err != nil {
			return Tokens{}, nil, err
		}
		if g == nil {
			return Tokens{}, nil, oauthErr("invalid_grant", "refresh_token_unknown", "the refresh token is not valid")
		}
		if !equal(g.ClientID, x.ClientID) {
			return Tokens{}, nil, oauthErr("invalid_grant", "refresh_client_mismatch", "the refresh token was issued to another client")
		}
		h := hashOf(secret)
		if slices.Contains(g.Used, h) {
			if err := s.RevokeGrant(ctx, gid); err != nil {
				return Tokens{}, nil, err
			}
			return Tokens{}, g, oauthErr("invalid_grant", ReasonRefreshReused, "the refresh token was already used; the grant is revoked")
		}
		if !equal(g.Refresh, h) {
			return Tokens{}, nil, oauthErr("invalid_grant", "refresh_token_unknown", "the refresh token is not valid")
		}
		if x.Resource != "" && x.Resource != g.Resource {
			return Tokens{}, nil, oauthErr("invalid_target", "resource_mismatch", "the refresh token was issued for another resource")
		}
		scopes := g.Scopes
		if len(x.Scopes) > 0 {
			for _, sc := range x.Scopes {
				if !slices.Contains(g.Scopes, sc) {
					return Tokens{}, nil, oauthErr("invalid_scope", "scope_not_granted", "the scope "+sc+" was not granted")
				}
			}
			scopes = x.Scopes
		}
		next := randomToken()
		rotated := *g
		rotated.Refresh = hashOf(next)
		rotated.Used = append(slices.Clone(g.Used), h)
		if len(rotated.Used) > maxUsedRefresh {
			rotated.Used = rotated.Used[len(rotated.Used)-maxUsedRefresh:]
		}
		nraw, err := json.Marshal(rotated)
		if err != nil {
			return Tokens{}, nil, fmt.Errorf("authserver: encoding grant: %w", err)
		}
		swapped, err := s.swap.swap(ctx, s.grantKey(gid), raw, nraw, s.o.RefreshTokenLifetime)
		if err != nil {
			return Tokens{}, nil, unavailable("rotating refresh token", err)
		}
		if !swapped {
			continue // changed under us: read again (a concurrent use of this token is then a reuse)
		}
		t, err := s.tokens(ctx, &rotated, scopes, gid+"."+next)
		return t, &rotated, err
	}
	return Tokens{}, nil, unavailable("rotating refresh token", errors.New("too much contention"))
}

// Revoke implements RFC 7009 for refresh tokens: the grant is revoked
// when the token is one of its family and belongs to clientID. Unknown
// tokens, and access tokens (self-contained, short-lived), are ignored,
// as §2.2 allows. It returns the revoked grant, or nil.
func (s *Server) Revoke(ctx context.Context, token, clientID string) (*Grant, error) {
	gid, secret, ok := strings.Cut(token, ".")
	if !ok || gid == "" || secret == "" {
		return nil, nil
	}
	_, g, err := s.readGrant(ctx, gid)
	if err != nil || g == nil {
		return nil, err
	}
	h := hashOf(secret)
	if !equal(g.ClientID, clientID) || !(equal(g.Refresh, h) || slices.Contains(g.Used, h)) {
		return nil, nil
	}
	return g, s.RevokeGrant(ctx, gid)
}

// RevokeGrant deletes a grant and with it every refresh token of its
// family. Access tokens already issued stay valid until they expire
// (AccessTokenLifetime).
func (s *Server) RevokeGrant(ctx context.Context, id string) error {
	if err := s.swap.remove(ctx, s.grantKey(id)); err != nil {
		return unavailable("revoking grant", err)
	}
	return nil
}

func (s *Server) grantKey(id string) string { return store.Key(s.o.Prefix, "asg", id) }

// readGrant returns a grant's stored bytes and value; nil when unknown.
func (s *Server) readGrant(ctx context.Context, id string) ([]byte, *Grant, error) {
	raw, err := s.o.Store.Get(ctx, s.grantKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, unavailable("reading grant", err)
	}
	var g Grant
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, nil, nil
	}
	return raw, &g, nil
}

// loadGrant returns a grant, or nil.
func (s *Server) loadGrant(ctx context.Context, id string) (*Grant, error) {
	_, g, err := s.readGrant(ctx, id)
	return g, err
}

// tokens mints the access token of g for scopes and returns the token
// response with refresh.
func (s *Server) tokens(ctx context.Context, g *Grant, scopes []string, refresh string) (Tokens, error) {
	at, err := s.mint(ctx, g, scopes)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: at, TokenType: "Bearer", ExpiresIn: int(s.o.AccessTokenLifetime / time.Second),
		RefreshToken: refresh, Scope: strings.Join(scopes, " ")}, nil
}

// accessClaims are the claims of an access token (RFC 9068).
type accessClaims struct {
	jwt.Claims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
}

// mint signs an access token for g.
func (s *Server) mint(ctx context.Context, g *Grant, scopes []string) (string, error) {
	ks, err := s.keys.get(ctx)
	if err != nil {
		return "", unavailable("signing keys", err)
	}
	now := s.o.Now()
	c := accessClaims{
		Claims: jwt.Claims{
			Issuer: s.o.Issuer, Subject: g.Identity.Subject, Audience: jwt.Audience{g.Resource},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(s.o.AccessTokenLifetime)),
			ID: randomToken()[:22],
		},
		ClientID: g.ClientID, Scope: strings.Join(scopes, " "),
		ACR: g.Identity.ACR, AMR: g.Identity.AMR, Email: g.Identity.Email, Name: g.Identity.Name,
	}
	if !g.Identity.AuthTime.IsZero() {
		c.AuthTime = g.Identity.AuthTime.Unix()
	}
	tok, err := jwt.Signed(ks.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("authserver: signing access token: %w", err)
	}
	return tok, nil
}

// pkceMatches checks an S256 verifier (RFC 7636 §4.6) in constant time.
func pkceMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return equal(base64.RawURLEncoding.EncodeToString(sum[:]), challenge)
}

// equal compares in constant time.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
