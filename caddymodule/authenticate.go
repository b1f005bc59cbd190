package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// authenticate verifies the credential presented and returns its
// principal with its effective scopes (see effective), or the verdict
// refusing it. On a resource route a 401 names
// the scopes the request needs, so a client can ask for them at once.
func (h *Handler) authenticate(r *http.Request, cred credential.Credential, clientIP string, each []policy.Request) (principal.Principal, *verdict) {
	if v := h.lockedOut(r.Context(), cred.Kind, clientIP); v != nil {
		return principal.Principal{}, v // failures.go
	}
	p, reason, c, ok := h.verify(r.Context(), cred)
	if ok {
		return h.effective(p), nil
	}
	h.noteFailure(r, cred.Kind, clientIP, reason)
	if h.resource != nil && c.status == http.StatusUnauthorized {
		c.scopes = h.scopesWithoutPrincipal(each)
	}
	return principal.Principal{}, refuse(reason, c)
}

// verify checks a presented credential. On failure it returns the
// reason and the challenge to answer with.
func (h *Handler) verify(ctx context.Context, cred credential.Credential) (principal.Principal, policy.Reason, challenge, bool) {
	unauthorized := func(desc string) challenge {
		return challenge{status: http.StatusUnauthorized, code: "invalid_token", description: desc}
	}
	switch cred.Kind {
	case credential.None:
		return principal.Principal{}, policy.ReasonNoCredentials,
			challenge{status: http.StatusUnauthorized, bare: true, description: "authentication is required"}, false
	case credential.APIKey:
		if !slices.Contains(h.accept, principal.MethodAPIKey) {
			return principal.Principal{}, policy.ReasonMethodNotAccepted, unauthorized("API keys are not accepted here"), false
		}
		rec, err := h.app.registry.Verify(ctx, cred.Value)
		switch {
		case err == nil:
			return principal.Principal{
				Subject: rec.Subject, Method: principal.MethodAPIKey, KeyID: rec.ID,
				Name: rec.Name, Scopes: rec.Scopes, RateLimit: rec.RateLimit, RateBurst: rec.RateBurst, ExpiresAt: rec.Expires,
			}, policy.ReasonAllowed, challenge{}, true
		case errors.Is(err, apikey.ErrUnavailable):
			return principal.Principal{}, policy.ReasonUnavailable, challenge{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
				description: "API keys cannot be checked right now; try again shortly"}, false
		case errors.Is(err, apikey.ErrExpired):
			return principal.Principal{}, policy.ReasonExpired, unauthorized("the API key has expired"), false
		case errors.Is(err, apikey.ErrRevoked):
			return principal.Principal{}, policy.ReasonRevoked, unauthorized("the API key is not valid"), false
		case errors.Is(err, apikey.ErrMalformed):
			return principal.Principal{}, policy.ReasonMalformedCredentials, unauthorized("the API key is not valid"), false
		default:
			return principal.Principal{}, policy.ReasonInvalidCredentials, unauthorized("the API key is not valid"), false
		}
	default:
		return h.authenticateJWT(ctx, cred.Value)
	}
}

// authenticateJWT verifies a bearer JWT against the trusted issuers.
func (h *Handler) authenticateJWT(ctx context.Context, token string) (principal.Principal, policy.Reason, challenge, bool) {
	if !slices.Contains(h.accept, principal.MethodJWT) {
		return principal.Principal{}, policy.ReasonMethodNotAccepted,
			challenge{status: http.StatusUnauthorized, code: "invalid_token", description: "bearer tokens are not accepted here"}, false
	}
	if h.app.verifier == nil {
		return principal.Principal{}, policy.ReasonInvalidCredentials,
			challenge{status: http.StatusUnauthorized, code: "invalid_token", description: "the bearer token is not valid"}, false
	}
	p, err := h.app.verifier.Verify(ctx, token)
	if err == nil {
		return p, policy.ReasonAllowed, challenge{}, true
	}
	reason := policy.Reason(jwtauth.ReasonOf(err))
	switch {
	case errors.Is(err, jwtauth.ErrUnavailable):
		return principal.Principal{}, reason, challenge{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
			description: "the token issuer's keys cannot be fetched; try again shortly"}, false
	case errors.Is(err, jwtauth.ErrExpired):
		return principal.Principal{}, reason, challenge{status: http.StatusUnauthorized, code: "invalid_token", description: "the access token expired"}, false
	default:
		return principal.Principal{}, reason, challenge{status: http.StatusUnauthorized, code: "invalid_token", description: "the bearer token is not valid"}, false
	}
}

// stepUpNeeded checks the route's max_age and acr rules (those without
// a condition, and those whose condition selects p) against the
// principal at now; when one is not met it returns what to ask for (see
// policy.CheckStepUp). API keys carry no authentication event and are
// not subject to them.
func (h *Handler) stepUpNeeded(p principal.Principal) (time.Duration, []string, bool) {
	if p.Method == principal.MethodAPIKey || len(h.authz.stepUp) == 0 {
		return 0, nil, true
	}
	ask, ok := policy.CheckStepUp(h.authz.stepUp, attributes(p), h.authz.clock())
	return ask.MaxAge, ask.ACRValues, ok
}

// scopesWithoutPrincipal are the scopes a request needs before anyone is
// known (the 401 of a resource route names them): those of the
// requirements without a condition.
func (h *Handler) scopesWithoutPrincipal(each []policy.Request) []string {
	return policy.AuthorizeEach(policy.Applicable(h.reqs, policy.Attributes{}), h.app.implications, nil, each).Required
}
