package caddymodule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// parseAccept turns accepted credential names into methods.
func parseAccept(names []string) ([]principal.Method, error) {
	if len(names) == 0 {
		return []principal.Method{principal.MethodAPIKey, principal.MethodJWT, principal.MethodSession}, nil
	}
	out := make([]principal.Method, 0, len(names))
	for _, n := range names {
		m := principal.Method(n)
		if !m.Valid() {
			return nil, fmt.Errorf("accept: unknown credential type %q (want api_key, jwt or session)", n)
		}
		out = append(out, m)
	}
	return out, nil
}

// compileRequirements checks scope names and conditions, and
// upper-cases methods.
func compileRequirements(cfg []RequireConfig) ([]policy.Requirement, error) {
	out := make([]policy.Requirement, 0, len(cfg))
	for _, rc := range cfg {
		if len(rc.Scopes) == 0 {
			return nil, errors.New("require: no scopes given")
		}
		for _, s := range rc.Scopes {
			if err := policy.ValidateScope(s); err != nil {
				return nil, fmt.Errorf("require: %w", err)
			}
		}
		methods := make([]string, len(rc.Methods))
		for i, m := range rc.Methods {
			methods[i] = strings.ToUpper(m)
		}
		when, err := compileWhen(rc.When)
		if err != nil {
			return nil, fmt.Errorf("require %s: %w", strings.Join(rc.Scopes, " "), err)
		}
		out = append(out, policy.Requirement{Scopes: rc.Scopes, Any: rc.Any, Methods: methods, Tools: rc.Tools, RPCMethods: rc.MCPMethods, When: when})
	}
	return out, nil
}
