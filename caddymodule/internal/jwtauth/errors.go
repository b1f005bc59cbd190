package jwtauth

import (
	"errors"
	"fmt"
)

// Verification failures. Every error Verify returns matches exactly one of
// them with errors.Is. Their text is safe to log: it never contains the
// token, a signature or a key.
//
// The adapter answers ErrUnavailable with 503 (the keys could not be
// fetched: the token may be fine) and every other one with 401 and
// `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).
var (
	// ErrMalformed means the token is not a well-formed compact JWS with
	// JSON header and claims: too large, wrong number of segments, bad
	// base64url, bad or duplicated JSON members, a `crit` header, numeric
	// dates out of range.
	ErrMalformed = errors.New("jwtauth: malformed token")
	// ErrUnsupportedAlg means the `alg` header is `none`, unknown, or not
	// allowed for the token's issuer.
	ErrUnsupportedAlg = errors.New("jwtauth: algorithm not accepted")
	// ErrSignature means no trusted key verified the signature, including
	// when the `kid` is unknown even after refetching the issuer's keys.
	ErrSignature = errors.New("jwtauth: signature not verified")
	// ErrIssuer means the `iss` claim is missing or names no trusted issuer.
	ErrIssuer = errors.New("jwtauth: issuer not trusted")
	// ErrAudience means the `aud` claim contains none of the required audiences.
	ErrAudience = errors.New("jwtauth: audience not accepted")
	// ErrExpired means the `exp` claim is in the past (beyond the clock skew).
	ErrExpired = errors.New("jwtauth: token expired")
	// ErrNotYetValid means the `nbf` or `iat` claim is in the future
	// (beyond the clock skew).
	ErrNotYetValid = errors.New("jwtauth: token not yet valid")
	// ErrClaims means a claim the configuration requires is missing or has
	// the wrong value: `sub`, `exp`, a required claim, or the `typ` header.
	ErrClaims = errors.New("jwtauth: required claim missing or wrong")
	// ErrUnavailable means the issuer's signing keys have never been
	// fetched successfully and cannot be fetched now. The token was not
	// judged; the answer is 503, not 401.
	ErrUnavailable = errors.New("jwtauth: signing keys unavailable")
)

// Reason is a short machine-readable cause of a failed verification. It
// feeds the audit event, the `error=` attribute and metrics labels: the set
// is fixed and small, and never contains user input.
type Reason string

// The reasons Verify reports. Each belongs to one sentinel error, named in
// its comment.
const (
	ReasonTooLarge        Reason = "too_large"          // ErrMalformed
	ReasonMalformed       Reason = "malformed"          // ErrMalformed
	ReasonDuplicateKey    Reason = "duplicate_json_key" // ErrMalformed
	ReasonCritical        Reason = "unsupported_crit"   // ErrMalformed
	ReasonAlgNone         Reason = "alg_none"           // ErrUnsupportedAlg
	ReasonAlgNotAllowed   Reason = "alg_not_allowed"    // ErrUnsupportedAlg
	ReasonBadSignature    Reason = "bad_signature"      // ErrSignature
	ReasonUnknownKey      Reason = "unknown_key"        // ErrSignature
	ReasonUntrustedIssuer Reason = "untrusted_issuer"   // ErrIssuer
	ReasonBadAudience     Reason = "bad_audience"       // ErrAudience
	ReasonExpired         Reason = "expired"            // ErrExpired
	ReasonNotYetValid     Reason = "not_yet_valid"      // ErrNotYetValid
	ReasonIssuedInFuture  Reason = "issued_in_future"   // ErrNotYetValid
	ReasonMissingSubject  Reason = "missing_subject"    // ErrClaims
	ReasonMissingExpiry   Reason = "missing_exp"        // ErrClaims
	ReasonClaimMismatch   Reason = "claim_mismatch"     // ErrClaims
	ReasonBadType         Reason = "bad_typ"            // ErrClaims
	ReasonKeysUnavailable Reason = "keys_unavailable"   // ErrUnavailable
	ReasonUnknownFailure  Reason = "unknown"            // an error not from Verify
)

// Error is the concrete type of every error Verify returns. It unwraps to
// its sentinel (Kind) and, when there is one, to the underlying cause (a
// fetch error, a context error), so errors.Is works for both.
type Error struct {
	// Kind is the sentinel this failure belongs to, e.g. ErrExpired.
	Kind error
	// Reason is the machine-readable cause.
	Reason Reason
	// Issuer is the configured issuer the token claimed, when known.
	Issuer string
	// Detail is a short human-readable explanation, safe to log.
	Detail string
	cause  error
}

// Error returns "<kind>: <detail>" and the cause, never token material.
func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Issuer != "" {
		msg += fmt.Sprintf(" (issuer %q)", e.Issuer)
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// ReasonOf returns the reason of an error returned by Verify, or
// ReasonUnknownFailure for any other non-nil error, or "" for nil.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUnknownFailure
}

// fail builds an *Error; detail must not contain token material.
func fail(kind error, reason Reason, detail string) *Error {
	return &Error{Kind: kind, Reason: reason, Detail: detail}
}

// withIssuer returns a copy of e naming the issuer.
func (e *Error) withIssuer(iss string) *Error {
	c := *e
	c.Issuer = iss
	return &c
}

// withCause returns a copy of e wrapping cause.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}
