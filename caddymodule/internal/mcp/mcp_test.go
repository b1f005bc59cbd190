package mcp

import (
	"errors"
	"io"
	"net/http/httptest"
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

func TestReadCall(t *testing.T) {
	t.Parallel()
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod","arguments":{}}}`
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		want    Call
		err     error
	}{
		{name: "body only", body: call, want: Call{Method: "tools/call", Name: "deploy_prod"}},
		{name: "headers agree", body: call, headers: map[string]string{HeaderMethod: "tools/call", HeaderName: "deploy_prod"}, want: Call{Method: "tools/call", Name: "deploy_prod"}},
		{name: "name disagrees", body: call, headers: map[string]string{HeaderName: "echo"}, err: ErrMismatch},
		{name: "method disagrees", body: call, headers: map[string]string{HeaderMethod: "tools/list"}, err: ErrMismatch},
		{name: "headers only", body: `[{"batch":true}]`, headers: map[string]string{HeaderMethod: "tools/list"}, want: Call{Method: "tools/list"}},
		{name: "too large", body: `{"method":"tools/call","pad":"` + strings.Repeat("x", 200) + `"}`, err: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got, err := ReadCall(r, 150)
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Fatalf("ReadCall = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
			rest, _ := io.ReadAll(r.Body)
			if string(rest) != tt.body {
				t.Fatalf("body not preserved: %q", rest)
			}
		})
	}
}

func TestMatchName(t *testing.T) {
	t.Parallel()
	if !MatchName("deploy_*", "deploy_prod") || MatchName("deploy_*", "echo") || MatchName("[", "x") {
		t.Fatal("MatchName is wrong")
	}
}
