package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Attributes are what a condition, a step-up rule or an MFA rule reads
// about a principal: its groups and raw claims, and how it last
// authenticated. The adapter fills them from the principal; the slices
// and the map are shared with it and only read.
type Attributes struct {
	// Groups are the principal's group or role names.
	Groups []string
	// Claims are the credential's raw claims (numbers are float64); nil
	// for a credential without claims.
	Claims map[string]any
	// AuthTime is when the user last authenticated (`auth_time`); zero
	// when unknown.
	AuthTime time.Time
	// ACR is the authentication context class of that authentication.
	ACR string
	// AMR are the authentication methods of that authentication.
	AMR []string
}

// Condition selects principals: those in at least one of Groups, or
// those whose claim (Claim) holds at least one of Values. Build one
// with NewCondition; the zero Condition selects nobody.
type Condition struct {
	// Groups, when set, selects members of any of these groups (exact,
	// case-sensitive names).
	Groups []string
	// Claim, when set, is the claim read, as written in the
	// configuration: a top-level claim name or a JSON pointer (see
	// ParseClaim).
	Claim string
	// Values are the accepted values of Claim, compared as
	// ClaimRequirement compares them.
	Values []string

	path []string // Claim parsed
}

// ErrClaimSyntax is matched (errors.Is) by the errors ParseClaim and
// NewCondition return for a claim written in no syntax they know.
var ErrClaimSyntax = errors.New("policy: unknown claim syntax")

// NewCondition checks and compiles a condition: either groups (at least
// one, none empty) or a claim with at least one value, never both.
func NewCondition(groups []string, claim string, values []string) (Condition, error) {
	switch {
	case len(groups) > 0 && claim != "":
		return Condition{}, errors.New("policy: a condition names groups or a claim, not both")
	case len(groups) > 0:
		for _, g := range groups {
			if g == "" {
				return Condition{}, errors.New("policy: empty group name in a condition")
			}
		}
		if len(values) > 0 {
			return Condition{}, errors.New("policy: a groups condition takes no values")
		}
		return Condition{Groups: groups}, nil
	case claim != "":
		path, err := ParseClaim(claim)
		if err != nil {
			return Condition{}, err
		}
		if len(values) == 0 {
			return Condition{}, fmt.Errorf("policy: claim %s: at least one value is required", claim)
		}
		return Condition{Claim: claim, Values: values, path: path}, nil
	}
	return Condition{}, errors.New("policy: a condition needs groups or a claim")
}

// ParseClaim reads a claim as written in the configuration and returns
// its path from the top of the claims. Two syntaxes are known:
//
//   - a top-level claim name, such as `email_verified`, `cognito:groups`
//     or a namespaced URL claim `https://example.com/roles`: any
//     printable text without spaces, quotes, backslashes or the
//     characters `[ ] * $ ? ( ) { }`, and without a dot unless it is a
//     URL (it contains "://");
//   - a JSON pointer (RFC 6901) for a nested claim, starting with `/`:
//     `/realm_access/roles`; `~1` stands for `/` and `~0` for `~` in a
//     segment, no segment is empty. A flat claim whose name has a dot is
//     written this way too: `/email.verified`.
//
// Anything else is an ErrClaimSyntax, with a hint: `realm_access.roles`
// is refused rather than silently never matching.
func ParseClaim(claim string) ([]string, error) {
	fail := func(why string) error {
		return fmt.Errorf("%w %q: %s; write a claim name (email_verified) or, for a nested claim, a JSON pointer (/realm_access/roles)", ErrClaimSyntax, claim, why)
	}
	if claim == "" {
		return nil, fail("empty claim")
	}
	for i := 0; i < len(claim); i++ {
		if c := claim[i]; c <= 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return nil, fail("a claim has no spaces, control characters, quotes or backslashes")
		}
	}
	if strings.HasPrefix(claim, "/") {
		segs := strings.Split(claim[1:], "/")
		for i, s := range segs {
			if s == "" {
				return nil, fail("a JSON pointer has no empty segment")
			}
			for j := 0; j < len(s); j++ {
				if s[j] == '~' && (j+1 == len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
					return nil, fail("in a JSON pointer `~` is written ~0 and `/` ~1")
				}
			}
			segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
		}
		return segs, nil
	}
	if strings.ContainsAny(claim, "[]*$?(){}") {
		return nil, fail("JSONPath and glob expressions are not supported")
	}
	if strings.Contains(claim, ".") && !strings.Contains(claim, "://") {
		return nil, fail("a dotted path is ambiguous (a nested claim, or a name with a dot?)")
	}
	return []string{claim}, nil
}

// Matches reports whether the condition selects a.
func (c Condition) Matches(a Attributes) bool {
	if len(c.Groups) > 0 {
		for _, g := range a.Groups {
			if slices.Contains(c.Groups, g) {
				return true
			}
		}
		return false
	}
	if len(c.path) == 0 {
		return false
	}
	v, ok := lookup(a.Claims, c.path)
	return ok && valueMatches(v, c.Values)
}

// lookup walks path from claims: object members by name, array elements
// by decimal index.
func lookup(claims map[string]any, path []string) (any, bool) {
	var cur any = claims
	for _, seg := range path {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// valueMatches reports whether v holds one of values: a scalar equal to
// one, or an array with an element equal to one (see ClaimRequirement).
func valueMatches(v any, values []string) bool {
	switch x := v.(type) {
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return scalarMatches(e, values) })
	case []string:
		return slices.ContainsFunc(x, func(e string) bool { return slices.Contains(values, e) })
	default:
		return scalarMatches(v, values)
	}
}

// scalarMatches compares a string, boolean or number with values, in
// their text form; other types never match.
func scalarMatches(v any, values []string) bool {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return false
	}
	return slices.Contains(values, s)
}
