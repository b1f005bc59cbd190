package caddymodule

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/endpoint"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/mcp"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// ResourceConfig declares a protected resource (RFC 9728), such as an
// MCP server, whose metadata Portcullis serves so OAuth clients can
// discover how to get a token for it.
type ResourceConfig struct {
	// URI is the canonical resource identifier, e.g.
	// `https://mcp.example.com/mcp`. Tokens for it must name it in `aud`.
	URI string `json:"uri,omitempty"`
	// AuthorizationServers are the issuers clients get tokens from. Required.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported lists the scopes clients may request
	// (`offline_access` is never listed).
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// Name is a human-readable name.
	Name string `json:"name,omitempty"`
	// Documentation is a URL of documentation for developers.
	Documentation string `json:"documentation,omitempty"`
	// AudienceAliases are further `aud` values accepted for this
	// resource, e.g. a client id for providers that cannot set audiences.
	AudienceAliases []string `json:"audience_aliases,omitempty"`
}

// resource is a compiled ResourceConfig.
type resource struct {
	meta      mcp.Metadata
	json      []byte
	audiences []string
}

// compile checks the resource and builds its metadata.
func (c ResourceConfig) compile() (*resource, error) { return c.compileWith("") }

// compileWith is compile with `self` (SelfAuthorizationServer) standing
// for the gateway's own issuer, self ("" while only the syntax is
// checked).
func (c ResourceConfig) compileWith(self string) (*resource, error) {
	if _, err := endpoint.CheckSecureURL("resource", c.URI); err != nil {
		return nil, err
	}
	servers := resolveSelf(c.AuthorizationServers, self)
	for _, as := range servers {
		if _, err := endpoint.CheckSecureURL("resource: authorization server", as); err != nil {
			return nil, err
		}
	}
	m, err := mcp.NewMetadata(c.URI, servers, c.ScopesSupported, c.Name, c.Documentation)
	if err != nil {
		return nil, err
	}
	return &resource{meta: m, json: m.JSON(), audiences: append([]string{c.URI}, c.AudienceAliases...)}, nil
}

// accepts reports whether a principal's token was issued for this resource.
func (res *resource) accepts(p principal.Principal) bool {
	if p.Method != principal.MethodJWT {
		return true
	}
	return slices.ContainsFunc(p.Audience, func(a string) bool { return slices.Contains(res.audiences, a) })
}

// serveResourceMetadata answers RFC 9728 metadata requests. The root
// form is answered for the route's own resource, or the only one.
func (h *Handler) serveResourceMetadata(w http.ResponseWriter, rid, p string) {
	var res *resource
	if p == mcp.WellKnownPrefix || p == mcp.WellKnownPrefix+"/" {
		res = h.resource
		if res == nil && len(h.app.resources) == 1 {
			for _, only := range h.app.resources {
				res = only
			}
		}
	} else {
		for _, r := range h.app.resources {
			if r.meta.Path() == strings.TrimSuffix(p, "/") {
				res = r
			}
		}
	}
	if res == nil {
		writeJSONError(w, rid, http.StatusNotFound, "not_found", "no protected resource is described here")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(res.json)
}

// originAllowed applies the route's Origin allow-list (DNS-rebinding
// protection): requests without an Origin header pass.
func (h *Handler) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || len(h.AllowedOrigins) == 0 || slices.Contains(h.AllowedOrigins, o)
}

// unmarshal reads `resource <uri> { authorization_servers …; scopes_supported …;
// name …; documentation …; audience_aliases … }`.
func (c *ResourceConfig) unmarshal(d *caddyfile.Dispenser) error {
	at := errAtStart(d)
	if err := stringArg(d, &c.URI); err != nil {
		return err
	}
	for d.NextBlock(1) {
		var err error
		switch d.Val() {
		case "authorization_servers":
			c.AuthorizationServers = d.RemainingArgs()
		case "scopes_supported":
			c.ScopesSupported = d.RemainingArgs()
		case "name":
			err = stringArg(d, &c.Name)
		case "documentation":
			err = stringArg(d, &c.Documentation)
		case "audience_aliases":
			c.AudienceAliases = d.RemainingArgs()
		default:
			return d.Errf("unrecognized resource subdirective %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if _, err := c.compile(); err != nil {
		return at(err)
	}
	return nil
}

// compileResources builds the app's resources, refusing duplicates.
func (a *App) compileResources() error {
	a.resources = make(map[string]*resource, len(a.Resources))
	for _, rc := range a.Resources {
		res, err := rc.compileWith(a.selfIssuer())
		if err != nil {
			return err
		}
		if _, dup := a.resources[rc.URI]; dup {
			return fmt.Errorf("resource %s is declared twice", rc.URI)
		}
		a.resources[rc.URI] = res
	}
	return nil
}
