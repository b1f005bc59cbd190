package oidcprovider

import (
	"crypto/subtle"
	"slices"
)

// Second factors. A User with an OTP can prove a second factor on the
// login page by typing it into the #otp input beside the password; the
// authentication's `amr` is then ["pwd", "otp"] (RFC 8176) and its `acr`
// ACRMultiFactor, in the ID token and in every later authorization of
// the same provider session. Without it, `amr` is ["pwd"] and there is
// no `acr`.
//
// An authorization request whose acr_values include ACRMultiFactor asks
// for a second factor: a provider session that did not show one is not
// reused (the login page is shown, with #mfa-required), and the login
// fails unless the right OTP is typed. Other acr_values are ignored, as
// OpenID Connect Core §3.1.2.1 allows (they are voluntary).
const (
	// ACRMultiFactor is the `acr` of a login with a second factor, the
	// OpenID Provider Authentication Policy Extension's multi-factor
	// policy.
	ACRMultiFactor = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	// AMRPassword is the `amr` value of a password (RFC 8176).
	AMRPassword = "pwd"
	// AMROTP is the `amr` value of a one-time password (RFC 8176).
	AMROTP = "otp"
)

// authentication is how a provider session was authenticated.
type authentication struct {
	amr []string
	acr string
}

// passwordOnly is a login with the password alone.
var passwordOnly = authentication{amr: []string{AMRPassword}}

// withOTP is a login with the password and a one-time password.
var withOTP = authentication{amr: []string{AMRPassword, AMROTP}, acr: ACRMultiFactor}

// multiFactor reports whether the authentication showed a second factor.
func (a authentication) multiFactor() bool { return a.acr == ACRMultiFactor }

// clone returns a deep copy.
func (a authentication) clone() authentication {
	a.amr = slices.Clone(a.amr)
	return a
}

// mfaRequested reports whether the auth request asks for a second
// factor (acr_values holds ACRMultiFactor).
func (a *authRequest) mfaRequested() bool { return slices.Contains(a.acrValues, ACRMultiFactor) }

// checkOTP reports whether otp is u's one-time password; a user without
// one never proves a second factor.
func checkOTP(u User, otp string) bool {
	return u.OTP != "" && subtle.ConstantTimeCompare([]byte(u.OTP), []byte(otp)) == 1
}
