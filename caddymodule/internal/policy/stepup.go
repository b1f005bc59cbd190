package policy

import (
	"slices"
	"time"
)

// StepUp requires, of the principals When selects (all when nil), an
// authentication recent enough (MaxAge) or of an accepted class (ACR).
type StepUp struct {
	// MaxAge, when positive, is the oldest auth_time accepted; an unknown
	// auth_time fails it.
	MaxAge time.Duration
	// ACR, when set, lists the accepted `acr` classes.
	ACR []string
	// When, when set, limits the rule to the principals it selects.
	When *Condition
}

// AuthRequest is what to ask the identity provider for when an
// authentication is not enough (OpenID Connect `max_age` and
// `acr_values`, RFC 9470 challenge attributes).
type AuthRequest struct {
	// MaxAge, when positive, is the `max_age` to ask for.
	MaxAge time.Duration
	// ACRValues are the classes to ask for, most preferred first.
	ACRValues []string
}

// applies reports whether the rule covers a.
func (s StepUp) applies(a Attributes) bool {
	return s.When == nil || s.When.Matches(a)
}

// CheckStepUp checks the rules that apply to a at now. When one fails it
// returns ok false and what to ask for: the smallest max_age of every
// rule that applies (so the new authentication satisfies them all), and
// the classes of the first failing acr rule (else of the first acr rule
// that applies).
func CheckStepUp(rules []StepUp, a Attributes, now time.Time) (AuthRequest, bool) {
	var ask AuthRequest
	var anyACR []string
	failed := false
	for _, r := range rules {
		if !r.applies(a) {
			continue
		}
		if r.MaxAge > 0 {
			if ask.MaxAge == 0 || r.MaxAge < ask.MaxAge {
				ask.MaxAge = r.MaxAge
			}
			if a.AuthTime.IsZero() || now.Sub(a.AuthTime) > r.MaxAge {
				failed = true
			}
		}
		if len(r.ACR) > 0 {
			if anyACR == nil {
				anyACR = r.ACR
			}
			if !slices.Contains(r.ACR, a.ACR) {
				failed = true
				if ask.ACRValues == nil {
					ask.ACRValues = r.ACR
				}
			}
		}
	}
	if !failed {
		return AuthRequest{}, true
	}
	if ask.ACRValues == nil {
		ask.ACRValues = anyACR
	}
	return ask, false
}
