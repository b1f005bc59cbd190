package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/mcpharness"
)

// auditToolGateway protects the MCP harness server with API keys and
// writes the audit log to auditFile; a request with `X-Test-Break: 1`
// that portcullis allows is answered 500 in place of the server, as a
// failing upstream would.
func auditToolGateway(upstream, auditFile, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	log audit {
		include portcullis.audit
		output file %s
		format json
	}
	portcullis {
		api_keys {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		route mcp
		require tools:read
		require tools:deploy tool deploy_*
	}
	@broken header X-Test-Break 1
	respond @broken "upstream failed" 500
	reverse_proxy %s
}
`, p.Global(), auditFile, keyBlock, p.HTTP, upstream)
	}
}

// TestAuditToolCalls: decision events name the JSON-RPC method and the
// tool, denied or allowed; allowed ones carry the upstream's status
// (200, or 500 when it fails) and duration; no argument value is logged.
func TestAuditToolCalls(t *testing.T) {
	t.Parallel()
	const secret = "arg-value-7f3c9e-never-logged"
	key, block := newKey(t, "--subject", "mcp-bot", "--scopes", "tools:read")
	srv := mcpharness.StartServer(t, nil)
	file := filepath.Join(t.TempDir(), "audit.log")
	gw := harness.StartGateway(t, auditToolGateway(srv.Addr, file, block))
	s := &mcpSetup{srv: srv, gw: gw, resource: gw.URL + "/mcp"}
	r := s.raw(t, key) // initialize and notifications/initialized: two allowed events

	call := func(tool string, args map[string]any, headers map[string]string) int {
		resp, body := r.post(t, map[string]any{"method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}}, headers)
		if strings.Contains(body, secret) && tool != mcpharness.ToolEcho {
			t.Errorf("%s answered with the argument: %s", tool, body)
		}
		return resp.StatusCode
	}
	if got := call(mcpharness.ToolDeployProd, map[string]any{"service": secret}, nil); got != 403 {
		t.Fatalf("deploy_prod with tools:read: %d, want 403", got)
	}
	if got := call(mcpharness.ToolEcho, map[string]any{"text": secret}, map[string]string{"X-Test-Break": "1"}); got != 500 {
		t.Fatalf("echo with a failing upstream: %d, want 500", got)
	}
	if got := call(mcpharness.ToolEcho, map[string]any{"text": secret}, nil); got != 200 {
		t.Fatalf("echo: %d, want 200", got)
	}

	var events []map[string]any
	for _, e := range readEvents(t, file, 6) { // config_loaded, then the decisions
		if e["event"] == "decision" {
			events = append(events, e)
		}
	}
	if len(events) != 5 {
		t.Fatalf("got %d audit events, want 5: %v", len(events), events)
	}
	want := []map[string]any{
		{"result": "allow", "rpc_method": "initialize", "upstream_status": 200.0},
		{"result": "allow", "rpc_method": "notifications/initialized", "upstream_status": 202.0},
		{"result": "deny", "reason": "insufficient_scope", "rpc_method": "tools/call", "tool": "deploy_prod"},
		{"result": "allow", "rpc_method": "tools/call", "tool": "echo", "upstream_status": 500.0},
		{"result": "allow", "rpc_method": "tools/call", "tool": "echo", "upstream_status": 200.0},
	}
	for i, e := range events {
		if e["subject"] != "mcp-bot" || e["route"] != "mcp" {
			t.Errorf("event %d: %v, want a decision for mcp-bot on route mcp", i, e)
		}
		for k, v := range want[i] {
			if e[k] != v {
				t.Errorf("event %d: %s = %v, want %v (all: %v)", i, k, e[k], v, e)
			}
		}
		_, hasStatus := e["upstream_status"]
		_, hasMS := e["upstream_ms"]
		if allowed := e["result"] == "allow"; hasStatus != allowed || hasMS != allowed {
			t.Errorf("event %d: upstream_status/upstream_ms present = %v/%v, want %v: %v", i, hasStatus, hasMS, allowed, e)
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"audit log": string(raw), "gateway log": gw.Logs()} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s carries a tool argument value", name)
		}
		if strings.Contains(text, key) {
			t.Errorf("the %s carries the API key", name)
		}
	}
}
