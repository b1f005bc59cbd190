package jwtauth

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// maxNumericDate bounds numeric dates (seconds since the epoch) to about
// the year 33658, far beyond any real token yet safe to convert.
const maxNumericDate = 1e12

// checkClaims applies the issuer's claim rules to a token whose signature
// is verified, in a fixed order (typ, exp, nbf, iat, aud, sub, required
// claims), and builds the principal.
func (is *issuer) checkClaims(t *parsedToken, now time.Time) (principal.Principal, *Error) {
	c := t.claims
	if is.cfg.RequireAccessTokenType && !isAccessTokenType(t.header.typ) {
		return principal.Principal{}, fail(ErrClaims, ReasonBadType, "typ header is not at+jwt")
	}
	skew := is.cfg.skew()
	exp, ok, err := numericDate(c, "exp")
	switch {
	case err != nil:
		return principal.Principal{}, err
	case !ok:
		return principal.Principal{}, fail(ErrClaims, ReasonMissingExpiry, "exp claim is required")
	case !now.Before(exp.Add(skew)):
		return principal.Principal{}, fail(ErrExpired, ReasonExpired, "exp is in the past")
	}
	nbf, ok, err := numericDate(c, "nbf")
	if err != nil {
		return principal.Principal{}, err
	}
	if ok && now.Add(skew).Before(nbf) {
		return principal.Principal{}, fail(ErrNotYetValid, ReasonNotYetValid, "nbf is in the future")
	}
	iat, ok, err := numericDate(c, "iat")
	if err != nil {
		return principal.Principal{}, err
	}
	if ok && now.Add(skew).Before(iat) {
		return principal.Principal{}, fail(ErrNotYetValid, ReasonIssuedInFuture, "iat is in the future")
	}
	aud, ok := stringList(c["aud"])
	if !ok || !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(is.cfg.Audiences, a) }) {
		return principal.Principal{}, fail(ErrAudience, ReasonBadAudience, "aud contains no accepted audience")
	}
	sub, _ := c["sub"].(string)
	if sub == "" {
		return principal.Principal{}, fail(ErrClaims, ReasonMissingSubject, "sub claim is required")
	}
	for name, want := range is.required {
		got, present := lookupClaim(c, name)
		if !present || (want != nil && !claimMatches(got, want)) {
			return principal.Principal{}, fail(ErrClaims, ReasonClaimMismatch, "required claim missing or different: "+quoteShort(name))
		}
	}
	// A malformed auth_time is treated as unknown (zero), so a policy
	// that needs a recent login fails closed instead of the token failing.
	authTime, _, _ := numericDate(c, "auth_time")
	p := principal.Principal{
		Subject:   sub,
		Method:    principal.MethodJWT,
		Name:      firstString(c, "name", "preferred_username"),
		Email:     firstString(c, "email"),
		Scopes:    scopes(c),
		Groups:    is.groups(c),
		Issuer:    is.cfg.Issuer,
		Audience:  aud,
		ClientID:  firstString(c, "client_id", "azp"),
		ExpiresAt: exp,
		AuthTime:  authTime,
		ACR:       firstString(c, "acr"),
		Claims:    c,
	}
	p.AMR, _ = stringList(c["amr"])
	return p, nil
}

// isAccessTokenType reports whether typ names a JWT access token
// (RFC 9068 §2.1), ignoring case (RFC 7515 §4.1.9).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
}

// numericDate reads a NumericDate claim (RFC 7519 §2). ok is false when
// the claim is absent; a claim of another type or out of range is an
// ErrMalformed.
func numericDate(c map[string]any, name string) (t time.Time, ok bool, e *Error) {
	v, present := c[name]
	if !present {
		return time.Time{}, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return time.Time{}, false, fail(ErrMalformed, ReasonMalformed, name+" is not a valid NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// stringList reads a claim that is a string or an array of strings
// (`aud`, `amr`, group claims). ok is false for any other value.
func stringList(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// scopes reads `scope` (space-separated, RFC 8693 §4.2 and RFC 9068 §2.2.3)
// or, when absent, `scp` (an array or a space-separated string, as Azure
// AD and Okta issue it). A string is split at spaces (U+0020) only, the
// one separator RFC 6749 §3.3 defines: a tab or a newline stays inside
// its scope, which principal.Validate then refuses, rather than silently
// becoming a separator. Array elements are taken whole: an element with
// a space is refused there too, never split into several scopes.
func scopes(c map[string]any) []string {
	v, ok := c["scope"]
	if !ok {
		v = c["scp"]
	}
	switch v := v.(type) {
	case string:
		var out []string
		for s := range strings.SplitSeq(v, " ") {
			if s != "" { // repeated, leading or trailing spaces
				out = append(out, s)
			}
		}
		return out
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// groups reads the configured group claims in order, dropping duplicates
// and non-string entries.
func (is *issuer) groups(c map[string]any) []string {
	var out []string
	for _, name := range is.cfg.GroupClaims {
		v, _ := lookupClaim(c, name)
		var vs []any
		switch v := v.(type) {
		case string:
			vs = []any{v}
		case []any:
			vs = v
		}
		for _, e := range vs {
			if s, ok := e.(string); ok && s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// lookupClaim finds a top-level claim by exact name or, failing that, by
// a dotted path through nested objects ("realm_access.roles"). Exact
// names win, so namespaced claims such as "https://example.com/roles"
// keep working.
func lookupClaim(c map[string]any, name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = c
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// claimMatches reports whether a claim equals the required (normalised)
// value, or is an array containing it when the value is not an array.
func claimMatches(got, want any) bool {
	if reflect.DeepEqual(got, want) {
		return true
	}
	if arr, ok := got.([]any); ok {
		if _, wantArr := want.([]any); !wantArr {
			return slices.ContainsFunc(arr, func(e any) bool { return reflect.DeepEqual(e, want) })
		}
	}
	return false
}

// firstString returns the first of the named claims that is a non-empty
// string.
func firstString(c map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := c[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strconv.Quote(s)
}
