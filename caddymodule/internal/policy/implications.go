// Package policy decides whether a principal may make a request: scope
// implications, route requirements, and the decision value that the
// adapter turns into an HTTP answer.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Implications maps a scope to every scope it grants, transitively
// (`admin` implies `orders:write` implies `orders:read`). It is built
// once from the configuration and is read-only afterwards.
type Implications struct {
	closure map[string][]string
}

// NewImplications validates the declared implications (no empty or
// blank scope names, no cycles) and computes their transitive closure.
// A cycle is reported with its path, e.g. "a -> b -> a".
func NewImplications(declared map[string][]string) (*Implications, error) {
	for s, implied := range declared {
		if err := ValidateScope(s); err != nil {
			return nil, err
		}
		for _, i := range implied {
			if err := ValidateScope(i); err != nil {
				return nil, err
			}
		}
	}
	if cycle := findCycle(declared); cycle != nil {
		return nil, fmt.Errorf("policy: scope implication cycle: %s", strings.Join(cycle, " -> "))
	}
	imp := &Implications{closure: make(map[string][]string, len(declared))}
	for s := range declared {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(x string) {
			for _, y := range declared[x] {
				if !seen[y] {
					seen[y] = true
					walk(y)
				}
			}
		}
		walk(s)
		all := make([]string, 0, len(seen))
		for y := range seen {
			all = append(all, y)
		}
		sort.Strings(all)
		imp.closure[s] = all
	}
	return imp, nil
}

// ValidateScope reports whether s is a usable scope name: non-empty and
// made of printable ASCII without spaces, quotes or backslashes (RFC
// 6749 section 3.3 scope-token), so it can appear in a WWW-Authenticate
// challenge unescaped.
func ValidateScope(s string) error {
	if s == "" {
		return fmt.Errorf("policy: empty scope name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return fmt.Errorf("policy: scope %q has a character not allowed in a scope token", s)
		}
		if c == '*' {
			return fmt.Errorf("policy: scope %q: wildcard scopes are not supported; declare the scopes it stands for with `scope <name> implies …`", s)
		}
	}
	return nil
}

// Expand returns the set of scopes granted by granted, implications
// included.
func (imp *Implications) Expand(granted []string) map[string]struct{} {
	out := make(map[string]struct{}, len(granted)*2)
	for _, g := range granted {
		out[g] = struct{}{}
		if imp == nil {
			continue
		}
		for _, i := range imp.closure[g] {
			out[i] = struct{}{}
		}
	}
	return out
}

// Grants reports whether granted, implications included, contains scope,
// without building the expanded set (the per-request path).
func (imp *Implications) Grants(granted []string, scope string) bool {
	for _, g := range granted {
		if g == scope {
			return true
		}
		if imp != nil {
			if _, ok := slices.BinarySearch(imp.closure[g], scope); ok {
				return true
			}
		}
	}
	return false
}

// findCycle returns one cycle in the implication graph as a path whose
// first and last elements are equal, or nil. It is deterministic.
func findCycle(g map[string][]string) []string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = onStack
		stack = append(stack, n)
		next := slices.Clone(g[n])
		sort.Strings(next)
		for _, m := range next {
			switch state[m] {
			case onStack:
				i := slices.Index(stack, m)
				return append(slices.Clone(stack[i:]), m)
			case unvisited:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	nodes := make([]string, 0, len(g))
	for n := range g {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if state[n] == unvisited {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}
