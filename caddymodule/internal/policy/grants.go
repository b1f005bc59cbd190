package policy

import (
	"fmt"
	"slices"
)

// Grant gives scopes to the principals a condition selects: the mapping
// from an identity provider's roles, groups and claims to the scopes
// routes require (`grant orders:admin to groups admins`).
type Grant struct {
	// Scopes given; each a scope-token.
	Scopes []string
	// To selects who gets them.
	To Condition
}

// Validate checks the grant's scopes. Its condition is checked when it
// is built (NewCondition).
func (g Grant) Validate() error {
	if len(g.Scopes) == 0 {
		return fmt.Errorf("policy: a grant needs at least one scope")
	}
	for _, s := range g.Scopes {
		if err := ValidateScope(s); err != nil {
			return err
		}
	}
	return nil
}

// EffectiveScopes returns the scopes a principal holds: granted (as its
// credential states them), then the scopes of every grant whose
// condition selects a (in the grants' order), then every scope those
// imply (imp may be nil; each scope's implications in sorted order),
// each scope once. Pass no grants for a credential whose scopes
// are explicit (an API key): implications still apply.
//
// When nothing is added, granted itself is returned (not a copy), so
// the common case costs no allocation; the result is only read.
func EffectiveScopes(granted []string, grants []Grant, a Attributes, imp *Implications) []string {
	out := granted
	owned := false
	add := func(s string) {
		if slices.Contains(out, s) {
			return
		}
		if !owned {
			out = append(make([]string, 0, len(out)+4), out...)
			owned = true
		}
		out = append(out, s)
	}
	for _, g := range grants {
		if g.To.Matches(a) {
			for _, s := range g.Scopes {
				add(s)
			}
		}
	}
	if imp == nil || len(imp.closure) == 0 {
		return out
	}
	// out grows while it is walked: implied scopes of implied scopes are
	// already in each closure, so walking the original ones suffices.
	for _, s := range out[:len(out):len(out)] {
		for _, i := range imp.closure[s] {
			add(i)
		}
	}
	return out
}
