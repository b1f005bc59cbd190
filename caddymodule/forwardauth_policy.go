package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

// ForwardAuthPolicy is what one set of hosts and paths requires in
// forward-auth: the hosts and paths it covers, matched against the
// original request, and the same settings as the `portcullis` handler
// (require, accept, rate_limit, allow_anonymous, identity_headers …),
// which apply exactly as inline.
type ForwardAuthPolicy struct {
	// Hosts the policy covers, as Caddy's host matcher reads them
	// (`app.example.com`, `*.example.com`), without a port. Default: every
	// host.
	Hosts []string `json:"hosts,omitempty"`
	// Paths the policy covers, as Caddy's path matcher reads them
	// (`/admin/*`). Default: every path.
	Paths []string `json:"paths,omitempty"`
	// Handler holds the route's settings, as for the `portcullis`
	// handler. Routes with MCP tool or method rules are refused: they read
	// the request body, which forward-auth never receives.
	Handler

	hosts caddyhttp.MatchHost
	paths caddyhttp.MatchPath
}

// provision compiles the policy's matchers and its pipeline.
func (p *ForwardAuthPolicy) provision(ctx caddy.Context) error {
	for _, h := range p.Hosts {
		if h == "" || strings.ContainsAny(h, "/: \t") {
			return fmt.Errorf("host %q must be a host name without scheme, port or path (`app.example.com`, `*.example.com`)", h)
		}
	}
	for _, path := range p.Paths {
		if !strings.HasPrefix(path, "/") && path != "*" {
			return fmt.Errorf("path %q must start with '/'", path)
		}
	}
	if err := p.Handler.Provision(ctx); err != nil {
		return err
	}
	return p.compile()
}

// compile checks the policy's pipeline (set up against the app) and
// builds its matchers.
func (p *ForwardAuthPolicy) compile() error {
	if p.readsCall {
		return errors.New("tool and mcp_method rules read the JSON-RPC body, which forward-auth never receives: protect MCP servers with the inline portcullis handler")
	}
	if p.Inject != nil {
		// The front proxy, not the gateway, sends the request upstream:
		// there is no request to set the user's provider token on.
		return errors.New("inject needs the inline portcullis handler: with forward-auth the front proxy sends the request upstream, never carrying the user's provider token")
	}
	p.hosts = caddyhttp.MatchHost(slices.Clone(p.Hosts))
	if err := p.hosts.Provision(caddy.Context{}); err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	p.paths = caddyhttp.MatchPath(slices.Clone(p.Paths))
	if err := p.paths.Provision(caddy.Context{}); err != nil {
		return fmt.Errorf("paths: %w", err)
	}
	return nil
}

// name describes the policy in errors: its route name, else its hosts
// and paths.
func (p *ForwardAuthPolicy) name() string {
	if p.Route != "" {
		return fmt.Sprintf("route %q", p.Route)
	}
	where := strings.Join(append(slices.Clone(p.Hosts), p.Paths...), " ")
	if where == "" {
		where = "every host and path"
	}
	return where
}

// matches reports whether the policy covers the original request r.
func (p *ForwardAuthPolicy) matches(r *http.Request) (bool, error) {
	if len(p.hosts) > 0 {
		if ok, err := p.hosts.MatchWithError(r); !ok || err != nil {
			return false, err
		}
	}
	if len(p.paths) > 0 {
		return p.paths.MatchWithError(r)
	}
	return true, nil
}

// choose returns the first policy that covers the original request r.
// A path the strict check refuses is only covered by policies that
// allow ambiguous paths; pathErr is that refusal (nil for a clear path),
// for the answer when no policy takes it.
func (f *ForwardAuth) choose(r *http.Request) (p *ForwardAuthPolicy, pathErr error) {
	pathErr = request.CheckPath(r.URL.EscapedPath())
	for _, p := range f.Policies {
		if pathErr != nil && !p.AllowAmbiguousPaths {
			continue
		}
		if ok, err := p.matches(r); ok && err == nil {
			return p, pathErr
		}
	}
	return nil, pathErr
}

// forHost returns the policy that serves the gateway's own endpoints for
// host: the first whose hosts cover it, else the first policy.
func (f *ForwardAuth) forHost(r *http.Request) *ForwardAuthPolicy {
	for _, p := range f.Policies {
		if len(p.hosts) == 0 {
			return p
		}
		if ok, _ := p.hosts.MatchWithError(r); ok {
			return p
		}
	}
	return f.Policies[0]
}
