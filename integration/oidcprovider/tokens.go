package oidcprovider

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
		var err error
		if base, err = refreshBase(req); err != nil {
			return "", "", time.Time{}, err
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

// refreshBase is what a first refresh token, issued with the code, stands for.
func refreshBase(req op.TokenRequest) (refreshTokenRequest, error) {
	if ar, ok := req.(*authRequest); ok {
		return refreshTokenRequest{
			clientID:      ar.clientID,
			userID:        ar.userID,
			audience:      slices.Clone(ar.audience),
			scopes:        slices.Clone(ar.scopes),
			amr:           slices.Clone(ar.amr),
			authTime:      ar.authTime,
			sessionID:     ar.sessionID,
			omitAuthTime:  ar.omitAuthTime,
			idTokenClaims: slices.Clone(ar.idTokenClaims),
		}, nil
	}
	idReq, ok := req.(op.IDTokenRequest)
	if !ok {
		return refreshTokenRequest{}, fmt.Errorf("cannot issue a refresh token for a %T", req)
	}
	_, sessionID := requestInfo(req)
	return refreshTokenRequest{
		clientID:  idReq.GetClientID(),
		userID:    idReq.GetSubject(),
		audience:  slices.Clone(idReq.GetAudience()),
		scopes:    slices.Clone(idReq.GetScopes()),
		amr:       slices.Clone(idReq.GetAMR()),
		authTime:  idReq.GetAuthTime(),
		sessionID: sessionID,
	}, nil
}

// TokenRequestByRefreshToken implements op.Storage.
func (s *store) TokenRequestByRefreshToken(_ context.Context, value string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[value]
	if !ok || time.Now().After(rt.expiration) {
		return nil, fmt.Errorf("refresh token: %w", errNotFound)
	}
	return rt.req.clone(), nil
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

// RevokeToken implements op.Storage (RFC 7009). The op package hands over
// an access token by its ID and a refresh token it recognised by its ID,
// both with userID set, or the token as presented (userID empty) when it
// recognised neither. Revoking a refresh token also revokes the access
// tokens issued with it. Unknown tokens are not an error. What the token
// turned out to be goes to the revocation log.
func (s *store) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	rec, _ := ctx.Value(revocationKey{}).(*Revocation)
	if rec == nil {
		rec = new(Revocation)
	}
	rec.ClientID = clientID
	rec.Kind = TokenKindUnknown
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.accessTokens[tokenOrID]; ok && userID != "" {
		rec.Kind, rec.Subject, rec.Active = TokenKindAccess, at.subject, now.Before(at.expiration)
		if at.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	value, rt, ok := s.refreshTokenLocked(tokenOrID, userID != "")
	presented, _ := ctx.Value(presentedTokenKey{}).(string)
	if !ok && presented != "" {
		// The op package may not have recognised a refresh token it was
		// handed (another client's): look at what was presented.
		value, rt, ok = s.refreshTokenLocked(presented, false)
	}
	if !ok {
		if userID != "" && strings.Count(presented, ".") == 2 {
			// A verified access token (a JWT) the store no longer holds:
			// revoked. Anything else the op package "decoded" is garbage.
			rec.Kind, rec.Subject = TokenKindAccess, userID
		}
		return nil
	}
	rec.Kind, rec.Subject, rec.Active = TokenKindRefresh, rt.req.userID, now.Before(rt.expiration)
	if rt.req.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
	}
	delete(s.refreshTokens, value)
	for id, at := range s.accessTokens {
		if at.refreshTokenID == rt.id {
			delete(s.accessTokens, id)
		}
	}
	return nil
}

// refreshTokenLocked finds a refresh token by its ID (byID) or its value;
// s.mu must be held.
func (s *store) refreshTokenLocked(tokenOrID string, byID bool) (string, *refreshToken, bool) {
	if !byID {
		rt, ok := s.refreshTokens[tokenOrID]
		return tokenOrID, rt, ok
	}
	for value, rt := range s.refreshTokens {
		if rt.id == tokenOrID {
			return value, rt, true
		}
	}
	return "", nil, false
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
