package policy

import (
	"errors"
	"slices"
	"time"
)

// MFA says which principals need a second factor, what counts as one,
// and for how long one counts.
//
// A principal's last authentication shows a second factor when its
// `amr` holds one of Methods (RFC 8176 values such as otp, hwk, swk,
// mfa) or its `acr` is one of ACR. With Grace set, that second factor
// counts from auth_time until auth_time+Grace inclusive: later, or with
// an unknown auth_time, the principal must authenticate again. Without
// Grace it counts for as long as the credential (session or token)
// lives. A refresh of a session's tokens is not an authentication: it
// neither renews nor extends the grace.
type MFA struct {
	// RequiredFor selects who needs a second factor: a principal any
	// condition selects. Empty: nobody (routes may still require it).
	RequiredFor []Condition
	// Methods are the `amr` values that prove a second factor.
	Methods []string
	// ACR are the `acr` classes that prove one; they are also what the
	// provider is asked for (`acr_values`).
	ACR []string
	// Grace is how long after auth_time a second factor counts; zero
	// means as long as the credential lives.
	Grace time.Duration
}

// Validate checks that m says what a second factor is.
func (m MFA) Validate() error {
	if len(m.Methods) == 0 && len(m.ACR) == 0 {
		return errors.New("policy: mfa needs methods (amr values) or acr classes that count as a second factor")
	}
	if m.Grace < 0 {
		return errors.New("policy: mfa grace must not be negative")
	}
	return nil
}

// Required reports whether a is one of the principals m.RequiredFor
// selects.
func (m MFA) Required(a Attributes) bool {
	for _, c := range m.RequiredFor {
		if c.Matches(a) {
			return true
		}
	}
	return false
}

// Proven reports whether a's last authentication shows a second factor
// that still counts at now (see MFA).
func (m MFA) Proven(a Attributes, now time.Time) bool {
	shown := slices.Contains(m.ACR, a.ACR) && a.ACR != ""
	for _, x := range a.AMR {
		if shown {
			break
		}
		shown = slices.Contains(m.Methods, x)
	}
	if !shown {
		return false
	}
	if m.Grace <= 0 {
		return true
	}
	return !a.AuthTime.IsZero() && now.Sub(a.AuthTime) <= m.Grace
}

// Ask is what to ask the provider for when a second factor is needed:
// the ACR classes, and Grace as max_age (so the provider does not reuse
// an authentication older than the grace).
func (m MFA) Ask() AuthRequest {
	return AuthRequest{MaxAge: m.Grace, ACRValues: m.ACR}
}
