package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/mcp"
)

// What the path matcher of a `portcullis` directive covers. A matcher
// such as `/orders/*` does not match `/orders` itself, so `GET /orders`
// and `POST /orders` would pass the route by: the adapter warns, at the
// directive's line. And the handler answers some paths itself (its
// endpoints, the RFC 9728 metadata its challenges point clients to, the
// assertion key set) that such a matcher keeps from it: the adapter adds
// a route for them.

// warningsOption is the adapter option under which a program adapting a
// Caddyfile may pass a *[]caddyconfig.Warning to receive the warnings of
// the portcullis directive as values (tests do). Caddy gives directives
// no way to add to the warnings its adapter returns, so otherwise they
// are logged with their file and line, as Caddy's own directives log
// theirs; `caddy adapt`, `validate` and `run` print them.
const warningsOption = "portcullis_warnings"

// pathRoutes is what a `portcullis` directive whose matcher set is set
// adds to its own route: a warning for each collection its path matcher
// leaves uncovered, and a route for the paths the handler answers itself
// that the matcher keeps from it.
func pathRoutes(h httpcaddyfile.Helper, set caddy.ModuleMap, hd *Handler) []httpcaddyfile.ConfigValue {
	patterns := matcherPaths(set)
	if patterns == nil {
		return nil
	}
	g, err := declaredIn(h)
	if err != nil {
		return nil // reported by parseHandler already
	}
	// The directive's own line: its first token.
	h.Reset()
	h.Next()
	for _, parent := range uncoveredParents(patterns) {
		// Portcullis's own paths are no collection of the upstream's
		// (`portcullis /.portcullis/*` is how routes used to reach them).
		if parent+"/" == g.endpointPrefix || strings.HasPrefix(parent, "/.well-known/") {
			continue
		}
		warn(h, caddyconfig.Warning{File: h.File(), Line: h.Line(), Directive: "portcullis", Message: uncoveredMessage(patterns, parent)})
	}
	own := ownPaths(patterns, hd, g.endpointPrefix)
	if len(own) == 0 {
		return nil
	}
	// Every other matcher of the set still applies.
	ownSet := maps.Clone(set)
	ownSet["path"] = caddyconfig.JSON(caddyhttp.MatchPath(own), nil)
	return h.NewRoute(ownSet, hd)
}

// matcherPaths returns the patterns of the path matcher in set, or nil.
func matcherPaths(set caddy.ModuleMap) []string {
	var m caddyhttp.MatchPath
	if raw, ok := set["path"]; !ok || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// uncoveredParents returns, for each pattern that matches only below a
// path (`/orders/*`), that path (`/orders`) when no pattern of the same
// matcher matches it. Patterns with placeholders or escapes are not
// judged.
func uncoveredParents(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		parent, ok := strings.CutSuffix(p, "/*")
		if !ok || parent == "" || strings.ContainsAny(parent, "{%?[\\") || slices.Contains(out, parent) {
			continue
		}
		// A wildcard segment of the parent (/api/*/items) stands for
		// any one segment.
		if !pathMatches(patterns, strings.ReplaceAll(parent, "*", "x")) {
			out = append(out, parent)
		}
	}
	return out
}

// uncoveredMessage says what a pattern leaves uncovered and what to do.
func uncoveredMessage(patterns []string, parent string) string {
	return fmt.Sprintf("path matcher %s leaves %s uncovered: a request for %s itself (GET %s, POST %s) skips this directive and reaches the next handler unauthenticated; "+
		"protect the whole site with `portcullis` and list what is public with `allow_anonymous`, or match %s* instead",
		strings.Join(patterns, " "), parent, parent, parent, parent, parent)
}

// ownPaths returns the paths the handler answers itself that patterns
// do not match: its endpoints under prefix, the metadata document of its
// resource, and the assertion key set.
func ownPaths(patterns []string, hd *Handler, prefix string) []string {
	type own struct{ pattern, sample string }
	want := []own{{prefix + "*", prefix + "healthz"}}
	if hd.Resource != "" {
		if u, err := url.Parse(hd.Resource); err == nil && u.Host != "" {
			p := mcp.Metadata{Resource: hd.Resource}.Path()
			want = append(want, own{p, p})
		}
	}
	if hd.Assertion != nil {
		want = append(want, own{AssertionJWKSPath, AssertionJWKSPath})
	}
	var out []string
	for _, o := range want {
		if !pathMatches(patterns, o.sample) {
			out = append(out, o.pattern)
		}
	}
	return out
}

// pathMatches reports whether Caddy's path matcher with these patterns
// matches a request for p.
func pathMatches(patterns []string, p string) bool {
	m := caddyhttp.MatchPath(slices.Clone(patterns))
	if err := m.Provision(caddy.Context{}); err != nil {
		return false
	}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}}
	r = r.WithContext(context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	ok, _ := m.MatchWithError(r)
	return ok
}

// warn hands w to the adaptation's warnings option, or logs it.
func warn(h httpcaddyfile.Helper, w caddyconfig.Warning) {
	if sink, ok := h.Option(warningsOption).(*[]caddyconfig.Warning); ok {
		*sink = append(*sink, w)
		return
	}
	caddy.Log().Named("config.adapter.caddyfile").Warn(w.Directive+": "+w.Message,
		zap.String("file", w.File), zap.Int("line", w.Line))
}
