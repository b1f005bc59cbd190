package oidcprovider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// errJWTProfile is returned for the JWT-profile grant, which the provider
// does not implement.
var errJWTProfile = errors.New("the JWT profile grant is not supported by this provider")

// fillUserinfo copies the user's claims into ui.
func fillUserinfo(ui *oidc.UserInfo, u User) {
	ui.Subject = u.ID
	ui.Name = u.Name
	ui.GivenName = u.GivenName
	ui.FamilyName = u.FamilyName
	ui.PreferredUsername = u.Username
	ui.Email = u.Email
	ui.EmailVerified = oidc.Bool(u.EmailVerified)
	for k, v := range u.Claims {
		ui.AppendClaims(k, v)
	}
	if len(u.Groups) > 0 {
		ui.AppendClaims("groups", slices.Clone(u.Groups))
	}
}

// userClaims returns the user's claims as put into JWT access tokens.
func userClaims(u User) map[string]any {
	claims := maps.Clone(u.Claims)
	if claims == nil {
		claims = map[string]any{}
	}
	set := func(k, v string) {
		if v != "" {
			claims[k] = v
		}
	}
	set("name", u.Name)
	set("given_name", u.GivenName)
	set("family_name", u.FamilyName)
	set("preferred_username", u.Username)
	if u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if len(u.Groups) > 0 {
		claims["groups"] = slices.Clone(u.Groups)
	}
	return claims
}

// SetUserinfoFromScopes implements op.Storage; it is deprecated upstream in
// favour of SetUserinfoFromRequest and does nothing.
func (s *store) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: it fills
// the claims of ID tokens, including "sid" (the provider session). In the
// strict profile the user's claims stay out, except those the claims
// parameter asked for in id_token.
func (s *store) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	u, ok := s.user(req.GetSubject())
	if !ok {
		return fmt.Errorf("user %q: %w", req.GetSubject(), errNotFound)
	}
	if s.strict {
		ui.Subject = u.ID // the op package copies it over the token's sub
		if r, ok := req.(interface{ requestedIDTokenClaims() []string }); ok {
			all := userClaims(u)
			for _, name := range r.requestedIDTokenClaims() {
				if v, ok := all[name]; ok {
					ui.AppendClaims(name, v)
				}
			}
		}
	} else {
		fillUserinfo(ui, u)
	}
	if _, sid := requestInfo(req); sid != "" {
		ui.AppendClaims("sid", sid)
	}
	return nil
}

// SetUserinfoFromToken implements op.Storage (the userinfo endpoint). The
// token must be live; a client_credentials token yields only "sub".
func (s *store) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	at, ok := s.liveAccessToken(tokenID)
	if !ok || at.subject != subject {
		return fmt.Errorf("access token: %w", errNotFound)
	}
	if u, ok := s.user(subject); ok {
		fillUserinfo(ui, u)
		return nil
	}
	ui.Subject = subject
	return nil
}

// SetIntrospectionFromToken implements op.Storage. A token is reported
// active only to a client that is one of its audiences. The user's claims
// are included in the lenient profile only.
func (s *store) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	at, ok := s.liveAccessToken(tokenID)
	if !ok || at.subject != subject || !slices.Contains(at.audience, clientID) {
		return fmt.Errorf("access token: %w", errNotFound)
	}
	if u, ok := s.user(subject); ok {
		if !s.strict {
			ui := new(oidc.UserInfo)
			fillUserinfo(ui, u)
			resp.SetUserInfo(ui)
		}
		resp.Username = u.Username
	}
	resp.Active = true
	resp.Subject = subject
	resp.Scope = at.scopes
	resp.ClientID = at.clientID
	resp.Audience = at.audience
	resp.TokenType = oidc.BearerToken
	resp.Issuer = s.issuer
	resp.JWTID = at.id
	resp.IssuedAt = oidc.FromTime(at.issued)
	resp.Expiration = oidc.FromTime(at.expiration)
	return nil
}

// GetPrivateClaimsFromScopes implements op.Storage; the provider uses
// GetPrivateClaimsFromRequest instead, so this only serves fallbacks.
func (s *store) GetPrivateClaimsFromScopes(_ context.Context, userID, _ string, scopes []string) (map[string]any, error) {
	claims := map[string]any{"scope": strings.Join(scopes, " ")}
	if u, ok := s.user(userID); ok && !s.strict {
		maps.Copy(claims, userClaims(u))
	}
	return claims, nil
}

// GetPrivateClaimsFromRequest implements op.CanGetPrivateClaimsFromRequest:
// the non-registered claims of JWT access tokens. They are "scope" (space
// separated, RFC 9068), the user's claims (lenient profile only), the
// client's Claims and "sid".
func (s *store) GetPrivateClaimsFromRequest(_ context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	clientID, sid := requestInfo(req)
	claims := map[string]any{}
	if c, err := s.client(clientID); err == nil {
		maps.Copy(claims, c.Claims)
	}
	if _, machine := req.(*clientCredentialsRequest); !machine && !s.strict {
		if u, ok := s.user(req.GetSubject()); ok {
			maps.Copy(claims, userClaims(u))
		}
	}
	if sid != "" {
		claims["sid"] = sid
	}
	claims["scope"] = strings.Join(req.GetScopes(), " ")
	return claims, nil
}

// GetKeyByIDAndClientID implements op.Storage; client keys (JWT profile)
// are not supported.
func (s *store) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errJWTProfile
}

// ValidateJWTProfileScopes implements op.Storage; the JWT profile grant is
// not supported.
func (s *store) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errJWTProfile
}
