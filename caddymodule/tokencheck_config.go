package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// Headers token check adds to the answers of its in-process copy of the
// gateway, read back and removed before the report.
const (
	// tokenCheckRouteHeader names each route the request entered.
	tokenCheckRouteHeader = "X-Portcullis-Token-Check-Route"
	// tokenCheckUpstreamHeader marks an answer from a stubbed upstream.
	tokenCheckUpstreamHeader = "X-Portcullis-Token-Check-Upstream"
)

// stubbedHandlers are the handlers token check replaces with a stub
// that answers 200: they would send the request elsewhere.
var stubbedHandlers = map[string]bool{"reverse_proxy": true}

// adaptConfigFile reads a configuration file and adapts it to JSON the
// way the server does (Caddyfile unless the file ends in .json).
func adaptConfigFile(path, adapterName string, warnings io.Writer) ([]byte, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if adapterName == "" && !strings.EqualFold(filepath.Ext(path), ".json") {
		adapterName = "caddyfile"
	}
	if adapterName == "" || adapterName == "json" {
		return body, nil
	}
	a := caddyconfig.GetAdapter(adapterName)
	if a == nil {
		return nil, fmt.Errorf("unknown config adapter %q", adapterName)
	}
	body, warns, err := a.Adapt(body, map[string]any{"filename": path})
	if err != nil {
		return nil, fmt.Errorf("adapting config with %s: %w", adapterName, err)
	}
	for _, w := range warns {
		fmt.Fprintf(warnings, "warning: %s\n", w)
	}
	return body, nil
}

// rewriteForTokenCheck rewrites a JSON configuration for an in-process,
// side-effect-free run: the admin endpoint off, every log discarded, no
// rate limits (they judge traffic, not the credential, and would spend
// real buckets in Redis), every allowed decision audited (so the report
// sees it), each route announcing itself in a response header, and
// every handler that would send the request elsewhere (reverse_proxy,
// hence forward_auth) replaced by a stub answering 200.
func rewriteForTokenCheck(raw []byte) ([]byte, error) {
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	cfg["admin"] = map[string]any{"disabled": true}
	cfg["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{
		"writer": map[string]any{"output": "discard"},
	}}}
	apps, _ := cfg["apps"].(map[string]any)
	httpApp, _ := apps["http"].(map[string]any)
	servers, _ := httpApp["servers"].(map[string]any)
	if len(servers) == 0 {
		return nil, errors.New("the configuration has no HTTP server")
	}
	for name, s := range servers {
		srv, _ := s.(map[string]any)
		if srv == nil {
			continue
		}
		rewriteRoutes(srv["routes"], name)
		if errs, ok := srv["errors"].(map[string]any); ok {
			rewriteRoutes(errs["routes"], name+" errors")
		}
	}
	return json.Marshal(cfg)
}

// rewriteRoutes rewrites a route list in place (see tokenCheckConfig);
// where names the list in the route header.
func rewriteRoutes(v any, where string) {
	routes, _ := v.([]any)
	for i, r := range routes {
		route, _ := r.(map[string]any)
		if route == nil {
			continue
		}
		desc := fmt.Sprintf("%s #%d", where, i)
		if m, ok := route["match"].([]any); ok {
			desc += " " + describeMatch(m)
		}
		handlers, _ := route["handle"].([]any)
		for j, h := range handlers {
			handler, _ := h.(map[string]any)
			if handler == nil {
				continue
			}
			switch name, _ := handler["handler"].(string); {
			case stubbedHandlers[name]:
				handlers[j] = map[string]any{"handler": "static_response", "status_code": 200,
					"headers": map[string]any{tokenCheckUpstreamHeader: []any{name}}}
			case name == "portcullis":
				delete(handler, "rate_limits")
				delete(handler, "audit_allowed")
			case name == "subroute":
				rewriteRoutes(handler["routes"], desc+" >")
			}
		}
		marker := map[string]any{"handler": "headers", "response": map[string]any{
			"add": map[string]any{tokenCheckRouteHeader: []any{headerSafe(desc)}},
		}}
		route["handle"] = append([]any{marker}, handlers...)
	}
}

// describeMatch writes a route's matcher sets as `host=a,b path=/x/*`,
// sets separated by " or ", without braces (the headers handler would
// read them as placeholders).
func describeMatch(sets []any) string {
	var out []string
	for _, s := range sets {
		set, _ := s.(map[string]any)
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			var v string
			if list, ok := set[k].([]any); ok && allStrings(list) {
				vs := make([]string, len(list))
				for i, e := range list {
					vs[i] = e.(string)
				}
				v = strings.Join(vs, ",")
			} else {
				b, _ := json.Marshal(set[k])
				v = string(b)
			}
			parts = append(parts, k+"="+v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return strings.NewReplacer("{", "(", "}", ")").Replace(strings.Join(out, " or "))
}

func allStrings(list []any) bool {
	for _, e := range list {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}

// headerSafe drops control characters from a header value.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
