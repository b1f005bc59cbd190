package caddymodule

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// MFAConfig requires a second factor of some principals, on every route
// (a route may opt out with `mfa off`, or require it of more principals
// with its own `mfa`). In a Caddyfile:
//
//	mfa {
//		required_for groups <group…>          # or: required_for claim <claim> <value…>; several lines add up
//		methods <amr…>                        # e.g. otp hwk swk webauthn
//		acr <class…>
//		grace <duration>
//	}
//
// A principal that needs one and whose authentication does not show one
// (an `amr` value in Methods or an `acr` in ACR), or no longer does (see
// Grace), is sent back to the provider with `prompt=login`,
// `acr_values` (ACR) and `max_age` (Grace) when it is a browser
// navigation with a session, and otherwise answered 401 with an RFC 9470
// challenge (`error="insufficient_user_authentication"`, acr_values,
// max_age). API keys are never asked. Audit reason: `mfa_required`.
type MFAConfig struct {
	// RequiredFor selects who needs a second factor: a principal any
	// condition selects. Default: nobody (routes' `mfa` still apply).
	RequiredFor []ConditionConfig `json:"required_for,omitempty"`
	// Methods are `amr` values (RFC 8176) that prove a second factor,
	// e.g. `otp`, `hwk`, `swk`, `mfa`. At least one of Methods and ACR.
	Methods []string `json:"methods,omitempty"`
	// ACR are `acr` classes that prove a second factor; they are also
	// sent as `acr_values` when asking for one. Default: none.
	ACR []string `json:"acr,omitempty"`
	// Grace is how long a second factor counts: from the authentication
	// that showed it (auth_time) until auth_time+grace, inclusive. Within
	// it no new prompt; after it, or when auth_time is unknown, the
	// principal is asked again. A session refresh is not an
	// authentication and does not extend it. Default: 0, a second factor
	// counts for as long as the session or token lives.
	Grace caddy.Duration `json:"grace,omitempty"`
}

// compile checks the block and builds it.
func (m MFAConfig) compile() (policy.MFA, error) {
	pm := policy.MFA{Methods: m.Methods, ACR: m.ACR, Grace: time.Duration(m.Grace)}
	for i, c := range m.RequiredFor {
		pc, err := c.compile()
		if err != nil {
			return pm, fmt.Errorf("mfa: required_for[%d]: %w", i, err)
		}
		pm.RequiredFor = append(pm.RequiredFor, pc)
	}
	if err := pm.Validate(); err != nil {
		return pm, err // "policy: mfa …"
	}
	return pm, nil
}

// RouteMFAConfig is a route's part in requiring a second factor (the
// app's mfa block says what one is). In a Caddyfile: `mfa` (everyone on
// this route), `mfa when <condition>`, or `mfa off`.
type RouteMFAConfig struct {
	// Off exempts the route from the app's `required_for`: nobody is
	// asked for a second factor here. Default: false.
	Off bool `json:"off,omitempty"`
	// When limits the route's requirement to the principals it selects.
	// Default (and not Off): everyone on the route needs a second factor.
	When *ConditionConfig `json:"when,omitempty"`
}

// mfaNeeded reports whether p must show a second factor on this route:
// the app's required_for selects it (unless the route says `mfa off`),
// or the route's own `mfa` does. API keys never.
func (z *routeAuthz) mfaNeeded(p principal.Principal, a policy.Attributes) bool {
	if z.mfa == nil || p.Method == principal.MethodAPIKey {
		return false
	}
	switch {
	case z.mfaAll:
		return true
	case z.mfaWhen != nil && z.mfaWhen.Matches(a):
		return true
	case z.mfaOff:
		return false
	}
	return z.mfa.Required(a)
}

// requireMFA is the mfa step of authorize: nil when p needs no second
// factor here or shows one that still counts; else the verdict that asks
// for one (a login at the provider for a browser navigation with a
// session, an RFC 9470 challenge otherwise). The login always says
// prompt=login: a provider that ignored acr_values would otherwise send
// the user straight back, without a second factor, in a loop.
func (h *Handler) requireMFA(r *http.Request, p principal.Principal) *verdict {
	a := attributes(p)
	z := &h.authz
	if !z.mfaNeeded(p, a) || z.mfa.Proven(a, z.clock()) {
		return nil
	}
	ask := z.mfa.Ask()
	if p.Method == principal.MethodSession && h.app.sso != nil && oidcflow.IsBrowserNavigation(r) {
		return &verdict{reason: string(policy.ReasonMFARequired), loginProvider: p.Provider, login: &oidcflow.LoginOptions{
			ReturnTo: r.URL.RequestURI(), MaxAge: ask.MaxAge, ACRValues: ask.ACRValues, ForceLogin: true}}
	}
	return refuse(policy.ReasonMFARequired, challenge{status: http.StatusUnauthorized, code: "insufficient_user_authentication",
		description: "a second authentication factor is required", maxAge: ask.MaxAge, acrValues: ask.ACRValues})
}
