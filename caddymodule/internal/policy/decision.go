package policy

import (
	"path"
	"slices"
	"strings"
)

// Reason is a machine-readable cause of a decision. It feeds the audit
// event, the `error` attribute of a challenge and metric labels, so the
// set of values is small and fixed.
type Reason string

// Decision reasons.
const (
	// ReasonAllowed means every requirement was met.
	ReasonAllowed Reason = "allowed"
	// ReasonNoCredentials means the request carried no credential.
	ReasonNoCredentials Reason = "no_credentials"
	// ReasonInvalidCredentials means a credential was presented and refused.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	// ReasonMultipleCredentials means more than one credential was presented.
	ReasonMultipleCredentials Reason = "multiple_credentials"
	// ReasonMalformedCredentials means a credential was not well formed
	// (a bad Authorization header, a key with a wrong checksum, a token
	// too long to consider).
	ReasonMalformedCredentials Reason = "malformed_credentials"
	// ReasonExpired means the credential has expired.
	ReasonExpired Reason = "expired"
	// ReasonRevoked means the credential was revoked.
	ReasonRevoked Reason = "revoked"
	// ReasonMethodNotAccepted means the credential type is not accepted on the route.
	ReasonMethodNotAccepted Reason = "method_not_accepted"
	// ReasonInsufficientScope means the principal lacks a required scope.
	ReasonInsufficientScope Reason = "insufficient_scope"
	// ReasonClaimMismatch means a required claim is missing or has
	// another value.
	ReasonClaimMismatch Reason = "claim_mismatch"
	// ReasonStepUp means the authentication is too old or too weak for
	// the route (max_age, acr).
	ReasonStepUp Reason = "step_up_required"
	// ReasonMFARequired means the principal must show a second factor
	// (the mfa rules) and its authentication does not, or no longer does.
	ReasonMFARequired Reason = "mfa_required"
	// ReasonUnavailable means a dependency needed to decide is down.
	ReasonUnavailable Reason = "unavailable"
	// ReasonOriginNotAllowed means the Origin header is not allowed.
	ReasonOriginNotAllowed Reason = "origin_not_allowed"
	// ReasonMalformedRequest means the request itself could not be
	// authorized (an MCP header disagreeing with the body, a body too large).
	ReasonMalformedRequest Reason = "malformed_request"
	// ReasonWrongAudience means the token was issued for another resource.
	ReasonWrongAudience Reason = "wrong_audience"
	// ReasonAnonymous means the path allows anonymous access and no
	// credential was presented.
	ReasonAnonymous Reason = "anonymous"
	// ReasonIssuerNotAccepted means a valid token came from a trusted
	// issuer that the route does not list in its issuers.
	ReasonIssuerNotAccepted Reason = "issuer_not_accepted"
	// ReasonProviderNotAccepted means a browser session from a login
	// provider the route does not list (`providers`).
	ReasonProviderNotAccepted Reason = "provider_not_accepted"
	// ReasonMalformedIdentity means the credential was valid but an
	// identity value in it (subject, email, name, group, scope, …) could
	// not be forwarded as exactly itself: a control character, invalid
	// UTF-8, surrounding spaces, a scope that is not a scope-token.
	ReasonMalformedIdentity Reason = "malformed_identity"
)

// Decision is the outcome of authorizing one request.
type Decision struct {
	// Allow is true when the request may proceed.
	Allow bool
	// Reason explains the outcome.
	Reason Reason
	// Missing lists the scopes the request needs that were not granted
	// (for an insufficient_scope answer, the challenge names all of
	// Required).
	Missing []string
	// Required lists every scope this request needs.
	Required []string
}

// Requirement is one rule of a route: scopes that must all (or, with
// Any, at least one) be granted, optionally only for some HTTP methods.
type Requirement struct {
	// Scopes must all be granted (after implications).
	Scopes []string
	// Any relaxes Scopes to "at least one of".
	Any bool
	// Methods limits the rule to these HTTP methods (upper case); empty
	// means every method.
	Methods []string
	// RPCMethods limits the rule to these JSON-RPC (MCP) methods, e.g.
	// "tools/call"; empty means any.
	RPCMethods []string
	// Tools limits the rule to MCP tool names matching these globs
	// (path.Match syntax, e.g. "deploy_*"); empty means any.
	Tools []string
	// When, when set, limits the rule to the principals it selects (see
	// Applicable); the others are judged by the other rules only.
	When *Condition
}

// Applicable returns the requirements that apply to a principal with
// attributes a: those without a condition, and those whose condition
// selects a. Without conditional requirements it returns reqs itself.
// For a request without a principal, pass the zero Attributes: only the
// unconditional requirements remain.
func Applicable(reqs []Requirement, a Attributes) []Requirement {
	if !slices.ContainsFunc(reqs, func(r Requirement) bool { return r.When != nil }) {
		return reqs
	}
	out := make([]Requirement, 0, len(reqs))
	for _, r := range reqs {
		if r.When == nil || r.When.Matches(a) {
			out = append(out, r)
		}
	}
	return out
}

// Request is what a requirement can be conditioned on.
type Request struct {
	// Method is the HTTP method.
	Method string
	// RPCMethod is the JSON-RPC method of an MCP request, if any.
	RPCMethod string
	// Tool is the tool name of an MCP tools/call, if any.
	Tool string
}

// appliesTo reports whether the rule covers the request.
func (r Requirement) appliesTo(req Request) bool {
	if len(r.Methods) > 0 && !slices.ContainsFunc(r.Methods, func(m string) bool { return strings.EqualFold(m, req.Method) }) {
		return false
	}
	if len(r.RPCMethods) > 0 && !slices.Contains(r.RPCMethods, req.RPCMethod) {
		return false
	}
	if len(r.Tools) > 0 && !slices.ContainsFunc(r.Tools, func(g string) bool { ok, err := path.Match(g, req.Tool); return err == nil && ok && req.Tool != "" }) {
		return false
	}
	return true
}

// Authorize checks the requirements that apply to req against the
// granted scopes, expanded with imp (which may be nil). On refusal,
// Required lists every scope of every requirement that applies, so one
// challenge tells the client all it needs; Missing lists those of the
// failing requirements.
func Authorize(reqs []Requirement, imp *Implications, granted []string, req Request) Decision {
	var required, missing []string
	for _, r := range reqs {
		if !r.appliesTo(req) {
			continue
		}
		for _, s := range r.Scopes {
			if !slices.Contains(required, s) {
				required = append(required, s)
			}
		}
		missing = append(missing, r.missing(imp, granted)...)
	}
	if len(missing) > 0 {
		return Decision{Reason: ReasonInsufficientScope, Missing: missing, Required: required}
	}
	return Decision{Allow: true, Reason: ReasonAllowed, Required: required}
}

// missing returns the scopes of r not granted: all the absent ones for
// an all-of rule; for an any-of rule, none if one is present, else all.
func (r Requirement) missing(imp *Implications, granted []string) []string {
	var out []string
	for _, s := range r.Scopes {
		if imp.Grants(granted, s) {
			if r.Any {
				return nil
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// AuthorizeClaims checks claim requirements; it returns the first one
// that fails, or ok.
func AuthorizeClaims(reqs []ClaimRequirement, claims map[string]any) (ClaimRequirement, bool) {
	for _, c := range reqs {
		if !c.Matches(claims) {
			return c, false
		}
	}
	return ClaimRequirement{}, true
}

// AuthorizeEach authorizes several requests carried by one HTTP request
// (the messages of a JSON-RPC batch): it allows only when every one is
// allowed. Required and Missing are the unions over all of them, so one
// challenge names everything the whole request needs. With no requests
// it allows.
func AuthorizeEach(reqs []Requirement, imp *Implications, granted []string, each []Request) Decision {
	out := Decision{Allow: true, Reason: ReasonAllowed}
	for _, req := range each {
		d := Authorize(reqs, imp, granted, req)
		out.Required = appendNew(out.Required, d.Required...)
		out.Missing = appendNew(out.Missing, d.Missing...)
		if !d.Allow {
			out.Allow, out.Reason = false, d.Reason
		}
	}
	return out
}

// appendNew appends the values of add not already in dst.
func appendNew(dst []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}
