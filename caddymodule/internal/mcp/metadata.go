// Package mcp makes a protected resource out of an unmodified Model
// Context Protocol server (or any OAuth 2.1 resource): RFC 9728
// protected-resource metadata, and the JSON-RPC method and tool name a
// request carries, for per-tool authorization.
package mcp

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// WellKnownPrefix is where protected-resource metadata is served (RFC 9728
// section 3).
const WellKnownPrefix = "/.well-known/oauth-protected-resource"

// Metadata is an RFC 9728 protected-resource metadata document.
type Metadata struct {
	// Resource is the resource identifier: its canonical https URI.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers that grant tokens for it.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported lists the scopes clients may request. It never
	// includes offline_access, which is the authorization server's.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported is always ["header"]: tokens are only read
	// from the Authorization header.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// ResourceName is a human-readable name.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of documentation for developers.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// NewMetadata checks the resource URI and builds its document.
func NewMetadata(resource string, authServers, scopes []string, name, doc string) (Metadata, error) {
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "" || u.RawQuery != "" {
		return Metadata{}, fmt.Errorf("mcp: resource %q must be an absolute http(s) URI without query or fragment", resource)
	}
	if len(authServers) == 0 {
		return Metadata{}, fmt.Errorf("mcp: resource %s needs at least one authorization server", resource)
	}
	var kept []string
	for _, s := range scopes {
		if s != "offline_access" {
			kept = append(kept, s)
		}
	}
	return Metadata{Resource: resource, AuthorizationServers: authServers, ScopesSupported: kept,
		BearerMethodsSupported: []string{"header"}, ResourceName: name, ResourceDocumentation: doc}, nil
}

// JSON encodes the document.
func (m Metadata) JSON() []byte {
	b, _ := json.Marshal(m)
	return b
}

// Path returns the path at which the metadata of this resource is served:
// the well-known prefix with the resource's path inserted after it
// (RFC 9728 section 3.1), e.g. https://h/mcp → /.well-known/oauth-protected-resource/mcp.
func (m Metadata) Path() string {
	u, _ := url.Parse(m.Resource)
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	return WellKnownPrefix + p
}

// URL returns the absolute URL of the metadata document.
func (m Metadata) URL() string {
	u, _ := url.Parse(m.Resource)
	return u.Scheme + "://" + u.Host + m.Path()
}
