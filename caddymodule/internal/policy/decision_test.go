package policy

import (
	"reflect"
	"slices"
	"testing"
)

func TestAuthorize(t *testing.T) {
	t.Parallel()
	imp, err := NewImplications(map[string][]string{"admin": {"orders:write"}, "orders:write": {"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []Requirement{
		{Scopes: []string{"orders:read"}},
		{Scopes: []string{"orders:write"}, Methods: []string{"POST", "DELETE"}},
	}
	tests := []struct {
		name        string
		granted     []string
		method      string
		wantAllow   bool
		wantMissing []string
		wantReq     []string
	}{
		{name: "read with read", granted: []string{"orders:read"}, method: "GET", wantAllow: true, wantReq: []string{"orders:read"}},
		{name: "write needs write", granted: []string{"orders:read"}, method: "POST", wantMissing: []string{"orders:write"}, wantReq: []string{"orders:read", "orders:write"}},
		{name: "method case-insensitive", granted: []string{"orders:read"}, method: "delete", wantMissing: []string{"orders:write"}, wantReq: []string{"orders:read", "orders:write"}},
		{name: "admin implies all", granted: []string{"admin"}, method: "POST", wantAllow: true, wantReq: []string{"orders:read", "orders:write"}},
		{name: "nothing granted", granted: nil, method: "GET", wantMissing: []string{"orders:read"}, wantReq: []string{"orders:read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Authorize(reqs, imp, tt.granted, Request{Method: tt.method})
			if d.Allow != tt.wantAllow || !reflect.DeepEqual(d.Missing, tt.wantMissing) || !reflect.DeepEqual(d.Required, tt.wantReq) {
				t.Fatalf("Authorize = %+v, want allow=%v missing=%v required=%v", d, tt.wantAllow, tt.wantMissing, tt.wantReq)
			}
			if !d.Allow && d.Reason != ReasonInsufficientScope {
				t.Fatalf("reason = %q", d.Reason)
			}
		})
	}
	if d := Authorize(nil, nil, nil, Request{Method: "GET"}); !d.Allow {
		t.Fatal("no requirements must allow")
	}
}

func TestAuthorizePerTool(t *testing.T) {
	t.Parallel()
	reqs := []Requirement{
		{Scopes: []string{"tools:read"}},
		{Scopes: []string{"tools:deploy"}, Tools: []string{"deploy_*"}},
		{Scopes: []string{"tools:list"}, RPCMethods: []string{"tools/list"}},
	}
	tests := []struct {
		name    string
		req     Request
		granted []string
		allow   bool
	}{
		{name: "plain tool", req: Request{Method: "POST", RPCMethod: "tools/call", Tool: "echo"}, granted: []string{"tools:read"}, allow: true},
		{name: "deploy tool needs deploy", req: Request{Method: "POST", RPCMethod: "tools/call", Tool: "deploy_prod"}, granted: []string{"tools:read"}},
		{name: "deploy tool with deploy", req: Request{Method: "POST", RPCMethod: "tools/call", Tool: "deploy_prod"}, granted: []string{"tools:read", "tools:deploy"}, allow: true},
		{name: "rpc method rule", req: Request{Method: "POST", RPCMethod: "tools/list"}, granted: []string{"tools:read"}},
		{name: "no tool name never matches a glob", req: Request{Method: "POST"}, granted: []string{"tools:read"}, allow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d := Authorize(reqs, nil, tt.granted, tt.req); d.Allow != tt.allow {
				t.Fatalf("Authorize = %+v", d)
			}
		})
	}
}

func TestAuthorizeEach(t *testing.T) {
	t.Parallel()
	reqs := []Requirement{
		{Scopes: []string{"tools:read"}},
		{Scopes: []string{"tools:deploy"}, Tools: []string{"deploy_*"}},
	}
	tests := []struct {
		name     string
		granted  []string
		each     []Request
		allow    bool
		required []string
	}{
		{name: "safe batch", granted: []string{"tools:read"}, each: []Request{{Method: "POST", RPCMethod: "tools/call", Tool: "echo"}, {Method: "POST", RPCMethod: "tools/list"}}, allow: true, required: []string{"tools:read"}},
		{name: "one forbidden element", granted: []string{"tools:read"}, each: []Request{{Method: "POST", RPCMethod: "tools/call", Tool: "echo"}, {Method: "POST", RPCMethod: "tools/call", Tool: "deploy_prod"}}, required: []string{"tools:read", "tools:deploy"}},
		{name: "forbidden first", granted: []string{"tools:read"}, each: []Request{{Method: "POST", RPCMethod: "tools/call", Tool: "deploy_prod"}, {Method: "POST", RPCMethod: "tools/call", Tool: "echo"}}, required: []string{"tools:read", "tools:deploy"}},
		{name: "all granted", granted: []string{"tools:read", "tools:deploy"}, each: []Request{{Method: "POST", RPCMethod: "tools/call", Tool: "deploy_prod"}}, allow: true, required: []string{"tools:read", "tools:deploy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := AuthorizeEach(reqs, nil, tt.granted, tt.each)
			if d.Allow != tt.allow || !slices.Equal(d.Required, tt.required) {
				t.Fatalf("got %+v, want allow=%v required=%v", d, tt.allow, tt.required)
			}
			if !d.Allow && (d.Reason != ReasonInsufficientScope || len(d.Missing) == 0) {
				t.Fatalf("refusal %+v has no reason or missing scopes", d)
			}
		})
	}
}
