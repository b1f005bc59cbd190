package mcp

import (
	"strings"
	"testing"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	m, err := NewMetadata("https://gw.example/mcp", []string{"https://idp.example"}, []string{"tools:read", "offline_access"}, "MCP", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Path() != "/.well-known/oauth-protected-resource/mcp" || m.URL() != "https://gw.example/.well-known/oauth-protected-resource/mcp" {
		t.Fatalf("path %q url %q", m.Path(), m.URL())
	}
	if strings.Contains(string(m.JSON()), "offline_access") || !strings.Contains(string(m.JSON()), `"bearer_methods_supported":["header"]`) {
		t.Fatalf("json: %s", m.JSON())
	}
	root, _ := NewMetadata("https://gw.example", []string{"https://idp.example"}, nil, "", "")
	if root.Path() != WellKnownPrefix {
		t.Fatalf("root path %q", root.Path())
	}
	for _, bad := range []string{"/mcp", "https://gw.example/mcp?x=1", "https://gw.example/mcp#f", "ftp://x/y"} {
		if _, err := NewMetadata(bad, []string{"https://idp"}, nil, "", ""); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := NewMetadata("https://gw.example/mcp", nil, nil, "", ""); err == nil {
		t.Error("accepted no authorization server")
	}
}
