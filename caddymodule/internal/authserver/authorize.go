package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// AuthRequest is a checked authorization request (RFC 6749 §4.1.1 with
// PKCE, RFC 7636, and a resource indicator, RFC 8707).
type AuthRequest struct {
	ClientID      string
	RedirectURI   string
	State         string
	CodeChallenge string
	Resource      string
	// Scopes requested, without offline_access (refresh tokens are
	// always issued); the resource's scopes_supported when none.
	Scopes []string
}

// Identity is who authorized: the signed-in session's principal.
type Identity struct {
	// Subject is the session's (namespaced) subject.
	Subject  string
	Provider string
	Email    string
	Name     string
	ACR      string
	AMR      []string
	AuthTime time.Time
}

// CheckAuthorize checks the parameters of an authorization request
// whose client and redirect_uri the caller has already resolved and
// checked (errors about those must not redirect, RFC 6749 §4.1.2.1).
// Errors returned here are sent back to the redirect URI.
func (s *Server) CheckAuthorize(q url.Values, clientID, redirectURI string) (AuthRequest, *Error) {
	req := AuthRequest{ClientID: clientID, RedirectURI: redirectURI, State: q.Get("state")}
	for _, p := range []string{"response_type", "code_challenge", "code_challenge_method", "resource", "scope", "state", "redirect_uri", "client_id"} {
		if len(q[p]) > 1 {
			return req, oauthErr("invalid_request", "repeated_parameter", p+" is repeated")
		}
	}
	if rt := q.Get("response_type"); rt != "code" {
		return req, oauthErr("unsupported_response_type", "unsupported_response_type", "only response_type=code is supported")
	}
	req.CodeChallenge = q.Get("code_challenge")
	switch m := q.Get("code_challenge_method"); {
	case req.CodeChallenge == "":
		return req, oauthErr("invalid_request", "pkce_missing", "PKCE is required: send code_challenge with code_challenge_method=S256")
	case m != "S256":
		return req, oauthErr("invalid_request", "pkce_method", "code_challenge_method must be S256 (plain is not accepted)")
	case !validChallenge(req.CodeChallenge):
		return req, oauthErr("invalid_request", "pkce_malformed", "code_challenge must be 43 base64url characters")
	}
	req.Resource = q.Get("resource")
	supported, ok := s.o.Resources[req.Resource]
	switch {
	case req.Resource == "":
		return req, oauthErr("invalid_target", "resource_missing", "the resource parameter (RFC 8707) is required")
	case !ok:
		return req, oauthErr("invalid_target", "resource_unknown", "the resource is not served by this authorization server")
	}
	scopes, err := s.requestedScopes(q.Get("scope"), supported)
	if err != nil {
		return req, err
	}
	req.Scopes = scopes
	return req, nil
}

// requestedScopes parses a scope parameter against the resource's
// supported scopes.
func (s *Server) requestedScopes(raw string, supported []string) ([]string, *Error) {
	var out []string
	for sc := range strings.FieldsSeq(raw) {
		if sc == "offline_access" || slices.Contains(out, sc) {
			continue
		}
		if len(supported) > 0 && !slices.Contains(supported, sc) {
			return nil, oauthErr("invalid_scope", "scope_unknown", "the scope "+sc+" is not offered by this resource")
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		out = slices.Clone(supported)
	}
	slices.Sort(out)
	return out, nil
}

// validChallenge accepts an S256 challenge: 43 base64url characters.
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// codeRecord is what a code stands for, stored under its hash.
type codeRecord struct {
	ClientID    string    `json:"c"`
	RedirectURI string    `json:"r"`
	Challenge   string    `json:"pk"`
	Resource    string    `json:"res"`
	Scopes      []string  `json:"sc"`
	Identity    Identity  `json:"id"`
	GrantID     string    `json:"g"`
	Expires     time.Time `json:"e"`
	Used        bool      `json:"u,omitempty"`
}

// IssueCode records a one-time authorization code for req, authorized
// by id with the given (already narrowed) scopes.
func (s *Server) IssueCode(ctx context.Context, req AuthRequest, id Identity, scopes []string) (string, error) {
	code := randomToken()
	rec := codeRecord{
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, Challenge: req.CodeChallenge, Resource: req.Resource,
		Scopes: scopes, Identity: id, GrantID: randomToken(), Expires: s.o.Now().Add(s.o.CodeLifetime),
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", fmt.Errorf("authserver: encoding code: %w", err)
	}
	if err := s.o.Store.Set(ctx, s.codeKey(code), raw, s.o.CodeLifetime+usedCodeTTL); err != nil {
		return "", unavailable("storing code", err)
	}
	return code, nil
}

func (s *Server) codeKey(code string) string { return store.Key(s.o.Prefix, "asc", hashOf(code)) }

// consentKey names the consent of one user for one client, resource
// and scope set.
func (s *Server) consentKey(subject, clientID, resource string, scopes []string) string {
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	return store.Key(s.o.Prefix, "ascn", hashOf(subject+"\x00"+clientID+"\x00"+resource+"\x00"+strings.Join(sorted, " ")))
}

// HasConsent reports whether subject consented to client getting scopes
// of resource (the same set) within the consent lifetime.
func (s *Server) HasConsent(ctx context.Context, subject, clientID, resource string, scopes []string) (bool, error) {
	_, err := s.o.Store.Get(ctx, s.consentKey(subject, clientID, resource, scopes))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, unavailable("reading consent", err)
	}
	return true, nil
}

// RememberConsent records subject's consent.
func (s *Server) RememberConsent(ctx context.Context, subject, clientID, resource string, scopes []string) error {
	if err := s.o.Store.Set(ctx, s.consentKey(subject, clientID, resource, scopes), []byte{1}, s.o.ConsentLifetime); err != nil {
		return unavailable("storing consent", err)
	}
	return nil
}
