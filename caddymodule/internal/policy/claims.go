package policy

import (
	"fmt"
	"strings"
)

// ClaimRequirement demands that a claim hold one of the given values:
// a string claim equal to one of them, an array claim containing one of
// them, a boolean claim equal to "true"/"false", a number claim equal to
// one written in decimal. A missing claim never matches.
type ClaimRequirement struct {
	// Claim is the claim name, e.g. "groups" or "email_verified".
	Claim string
	// Values are the accepted values; at least one.
	Values []string
}

// Validate checks a claim requirement.
func (c ClaimRequirement) Validate() error {
	if strings.TrimSpace(c.Claim) == "" {
		return fmt.Errorf("policy: claim requirement without a claim name")
	}
	if len(c.Values) == 0 {
		return fmt.Errorf("policy: claim %s: at least one value is required", c.Claim)
	}
	return nil
}

// Matches reports whether claims satisfy the requirement.
func (c ClaimRequirement) Matches(claims map[string]any) bool {
	v, ok := claims[c.Claim]
	return ok && valueMatches(v, c.Values)
}
