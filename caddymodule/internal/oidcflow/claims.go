package oidcflow

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// mapClaims maps verified claims (the ID token's, merged with
// UserInfo) to session claims: email, name (or preferred_username),
// groups from the configured claims, acr, amr, auth_time, sid, and all
// raw claims.
func (c *Client) mapClaims(raw map[string]any) session.Claims {
	out := session.Claims{
		Issuer: c.cfg.Issuer,
		Email:  str(raw["email"]),
		Name:   str(raw["name"]),
		ACR:    str(raw["acr"]),
		AMR:    strs(raw["amr"]),
		SID:    str(raw["sid"]),
		Raw:    raw,
	}
	if out.Name == "" {
		out.Name = str(raw["preferred_username"])
	}
	if at, ok := raw["auth_time"].(float64); ok && at > 0 {
		out.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	for _, name := range c.cfg.GroupsClaims {
		for _, g := range strs(lookup(raw, name)) {
			if g != "" && !slices.Contains(out.Groups, g) {
				out.Groups = append(out.Groups, g)
			}
		}
	}
	return out
}

// lookup returns claim name of raw: the top-level claim if present (names
// may contain dots, as URLs do), else the value at the dotted path.
func lookup(raw map[string]any, name string) any {
	if v, ok := raw[name]; ok {
		return v
	}
	var cur any = raw
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// str returns v if it is a string, else "".
func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs returns the names in v: a string (one name), a list of strings,
// or an object's keys (sorted).
func strs(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		out := make([]string, 0, len(t))
		for k := range t {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	return nil
}
