package oidcprovider

import (
	"fmt"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Profile is how literally the provider follows OpenID Connect. Tests of a
// relying party run against both profiles: Lenient catches nothing a
// forgiving provider would tolerate, Strict catches a relying party that
// depends on leniency.
type Profile int

const (
	// Lenient, the zero value, is the forgiving provider: every user claim
	// is in ID tokens, JWT access tokens, introspection and userinfo
	// alike; offline_access alone yields a refresh token; ID tokens always
	// carry auth_time; authorization responses carry no iss; keys are RS256
	// unless Config.IDTokenAlg says otherwise.
	Lenient Profile = iota
	// Strict behaves like a provider that follows OpenID Connect Core 1.0
	// to the letter:
	//
	//   - User claims (email, email_verified, name, preferred_username,
	//     groups, User.Claims, ...) are served only by the UserInfo endpoint
	//     (§5.4). ID tokens, from the code flow or a refresh, carry only sub
	//     and protocol claims (iss, aud, exp, iat, nonce, at_hash, sid, azp,
	//     amr, auth_time when asked), plus the claims the claims parameter
	//     asks for in id_token (§5.5). JWT access tokens and introspection
	//     carry no user claims either.
	//   - offline_access is dropped, so no refresh token is issued, unless
	//     the authorization request's prompt contains consent (§11).
	//   - Discovery advertises authorization_response_iss_parameter_supported
	//     and every authorization response, success or error, carries
	//     iss (RFC 9207).
	//   - auth_time is in ID tokens only when the request had max_age, the
	//     claims parameter asks for it in id_token, or the client has
	//     RequireAuthTime (§2, §3.1.2.1, §5.5). Discovery advertises
	//     claims_parameter_supported; a claims parameter that is not a JSON
	//     object is refused with invalid_request.
	//   - Keys and tokens are Ed25519 (alg "Ed25519", RFC 9864) unless
	//     Config.IDTokenAlg says otherwise.
	Strict
)

// WithProfile sets Config.Profile.
func WithProfile(p Profile) Option { return func(c *Config) { c.Profile = p } }

// String returns "lenient" or "strict".
func (p Profile) String() string {
	switch p {
	case Lenient:
		return "lenient"
	case Strict:
		return "strict"
	default:
		return fmt.Sprintf("Profile(%d)", int(p))
	}
}

// defaultAlg is the signing algorithm of the profile when
// Config.IDTokenAlg is empty.
func (p Profile) defaultAlg() string {
	if p == Strict {
		return AlgEd25519
	}
	return AlgRS256
}

// Profile returns the provider's profile (Config.Profile).
func (p *Provider) Profile() Profile { return p.profile }

// applyStrict applies the strict profile to a new auth request: without
// prompt=consent there is no offline access (OpenID Connect Core 1.0 §11),
// auth_time is only kept when max_age was sent, the claims parameter asks
// for it or the client requires it, and the claims parameter's id_token
// member names the user claims the ID token gets (§5.5).
func applyStrict(ar *authRequest, req *oidc.AuthRequest, c Client, capture *authCapture) error {
	if !slices.Contains(req.Prompt, oidc.PromptConsent) {
		ar.scopes = slices.DeleteFunc(ar.scopes, func(s string) bool { return s == oidc.ScopeOfflineAccess })
	}
	// op turns prompt=login into max_age=0, so max_age is read as sent.
	maxAgeSent := req.MaxAge != nil
	var claims claimsRequest
	if capture != nil {
		maxAgeSent = capture.form.Has("max_age")
		if capture.form.Has("claims") {
			var err error
			if claims, err = parseClaimsRequest(capture.form.Get("claims")); err != nil {
				return err
			}
		}
	}
	_, authTimeAsked := claims.IDToken["auth_time"]
	ar.omitAuthTime = !maxAgeSent && !authTimeAsked && !c.RequireAuthTime
	for name := range claims.IDToken {
		ar.idTokenClaims = append(ar.idTokenClaims, name)
	}
	slices.Sort(ar.idTokenClaims)
	return nil
}
