package oidcprovider

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// accessToken records an issued access token by its ID (the JWT's jti).
type accessToken struct {
	id             string
	clientID       string
	subject        string
	audience       []string
	scopes         []string
	issued         time.Time
	expiration     time.Time
	refreshTokenID string
	sessionID      string
}

// refreshToken records an issued refresh token; the map key is its value.
type refreshToken struct {
	id         string
	expiration time.Time
	req        refreshTokenRequest
}

// newAccessTokenLocked records a new access token; s.mu must be held.
func (s *store) newAccessTokenLocked(req op.TokenRequest, refreshTokenID string) (*accessToken, error) {
	clientID, sessionID := requestInfo(req)
	c, ok := s.clients[clientID]
	if !ok {
		return nil, fmt.Errorf("issuing access token for client %q: %w", clientID, errNotFound)
	}
	now := time.Now()
	at := &accessToken{
		id:             newID(),
		clientID:       clientID,
		subject:        req.GetSubject(),
		audience:       slices.Clone(req.GetAudience()),
		scopes:         slices.Clone(req.GetScopes()),
		issued:         now,
		expiration:     now.Add(pick(c.AccessTokenLifetime, s.lifetimes.accessToken)),
		refreshTokenID: refreshTokenID,
		sessionID:      sessionID,
	}
	s.accessTokens[at.id] = at
	return at, nil
}

// CreateAccessToken implements op.Storage.
func (s *store) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, err := s.newAccessTokenLocked(req, "")
	if err != nil {
		return "", time.Time{}, err
	}
	return at.id, at.expiration, nil
}

// CreateAccessAndRefreshTokens implements op.Storage. Refresh tokens rotate:
// the presented one is consumed and a new one returned.
func (s *store) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var base refreshTokenRequest
	if current != "" {
		old, ok := s.refreshTokens[current]
		if !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used or revoked")
		}
		delete(s.refreshTokens, current)
		base = old.req
	} else {
		idReq, ok := req.(op.IDTokenRequest)
		if !ok {
			return "", "", time.Time{}, fmt.Errorf("cannot issue a refresh token for a %T", req)
		}
		_, sessionID := requestInfo(req)
		base = refreshTokenRequest{
			clientID:  idReq.GetClientID(),
			userID:    idReq.GetSubject(),
			audience:  slices.Clone(idReq.GetAudience()),
			scopes:    slices.Clone(idReq.GetScopes()),
			amr:       slices.Clone(idReq.GetAMR()),
			authTime:  idReq.GetAuthTime(),
			sessionID: sessionID,
		}
	}
	c, ok := s.clients[base.clientID]
	if !ok {
		return "", "", time.Time{}, fmt.Errorf("issuing refresh token for client %q: %w", base.clientID, errNotFound)
	}
	rt := &refreshToken{
		id:         newID(),
		expiration: time.Now().Add(pick(c.RefreshTokenLifetime, s.lifetimes.refreshToken)),
		req:        base,
	}
	value := newID()
	s.refreshTokens[value] = rt
	at, err := s.newAccessTokenLocked(req, rt.id)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.id, value, at.expiration, nil
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *store) TokenRequestByRefreshToken(_ context.Context, value string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[value]
	if !ok || time.Now().After(rt.expiration) {
		return nil, fmt.Errorf("refresh token: %w", errNotFound)
	}
	req := rt.req
	req.audience = slices.Clone(req.audience)
	req.scopes = slices.Clone(req.scopes)
	req.amr = slices.Clone(req.amr)
	return &req, nil
}

// GetRefreshTokenInfo implements op.Storage.
func (s *store) GetRefreshTokenInfo(_ context.Context, clientID, value string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[value]
	if !ok || rt.req.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.req.userID, rt.id, nil
}

// RevokeToken implements op.Storage. An access token is given by its ID
// (with userID set), a refresh token by its value (userID empty); revoking
// a refresh token also revokes the access tokens issued with it. Unknown
// tokens are not an error (RFC 7009).
func (s *store) RevokeToken(_ context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.accessTokens[tokenOrID]; ok && userID != "" {
		if at.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	rt, ok := s.refreshTokens[tokenOrID]
	if !ok {
		return nil
	}
	if rt.req.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.refreshTokens, tokenOrID)
	for id, at := range s.accessTokens {
		if at.refreshTokenID == rt.id {
			delete(s.accessTokens, id)
		}
	}
	return nil
}

// liveAccessToken returns a copy of an unexpired, unrevoked access token.
func (s *store) liveAccessToken(id string) (accessToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.accessTokens[id]
	if !ok || time.Now().After(at.expiration) {
		return accessToken{}, false
	}
	return *at, true
}

// ClientCredentialsTokenRequest implements op.ClientCredentialsStorage.
// Scopes outside the client's AllowedScopes (when set) are refused.
func (s *store) ClientCredentialsTokenRequest(_ context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, err := s.client(clientID)
	if err != nil {
		return nil, err
	}
	oc := s.opClient(c)
	for _, sc := range scopes {
		if !oc.IsScopeAllowed(sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for client %q", sc, clientID)
		}
	}
	return &clientCredentialsRequest{
		clientID: clientID,
		audience: c.audience(),
		scopes:   slices.Clone(scopes),
	}, nil
}
