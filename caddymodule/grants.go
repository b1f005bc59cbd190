package caddymodule

import (
	"fmt"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

// GrantConfig gives scopes to the principals a condition selects: the
// mapping from the identity provider's groups, roles and claims to the
// scopes routes require. It applies to browser sessions and JWTs, never
// to API keys (their scopes are explicit); scope implications apply
// after it. In a Caddyfile:
//
//	grant <scope…> to groups <group…>
//	grant <scope…> to claim <claim> <value…>
type GrantConfig struct {
	// Scopes given. Each must be declared: named in a `scope … implies`
	// line (either side), in known_scopes, or in a resource's
	// scopes_supported. Required.
	Scopes []string `json:"scopes,omitempty"`
	// To selects who gets them. Required.
	To ConditionConfig `json:"to"`
}

// compile checks the grant against the declared scopes and builds it.
func (g GrantConfig) compile(declared map[string]bool) (policy.Grant, error) {
	pg := policy.Grant{Scopes: g.Scopes}
	if err := pg.Validate(); err != nil {
		return pg, fmt.Errorf("grant: %w", err)
	}
	var undeclared []string
	for _, s := range g.Scopes {
		if !declared[s] {
			undeclared = append(undeclared, s)
		}
	}
	if len(undeclared) > 0 {
		list := strings.Join(undeclared, " ")
		return pg, fmt.Errorf("grant: scope %s is not declared (a typo?); declare it with `known_scopes %s`, in a `scope … implies` line, or in a resource's scopes_supported", list, list)
	}
	to, err := g.To.compile()
	if err != nil {
		return pg, fmt.Errorf("grant %s: %w", strings.Join(g.Scopes, " "), err)
	}
	pg.To = to
	return pg, nil
}
