package integration_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 1: the MCP tool and method rules must read the JSON-RPC body
// exactly as the server behind would, or refuse it.

// mcpRulesGateway protects the recorder with tool and method rules: a
// reader may call any tool but deploy_* and any method but
// logging/setLevel.
func mcpRulesGateway(up, keys string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		accept api_key
		require tools:read
		require tools:deploy tool deploy_*
		require tools:admin mcp_method logging/setLevel
	}
	reverse_proxy %s
}
`, p.Global(), keys, p.HTTP, up)
	}
}

// Expected outcomes besides a status: a refusal with any 4xx, or either
// a refusal or a forward that no reader of the differential runs as a
// forbidden call.
const (
	anyRefusal    = 0
	refuseOrHarms = -1
)

// mcpCase is one hostile (or control) body.
type mcpCase struct {
	name    string
	body    string
	ctype   string // Content-Type; "" is application/json, "-" none
	headers [][2]string
	method  string // default POST
	admin   bool   // sent with the admin key (may do anything)
	want    int    // a status, anyRefusal or refuseOrHarms
}

// rpcCall is a tools/call body whose params start with members.
func rpcCall(members string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{` + members + `,"arguments":{"text":"hi"}}}`
}

var (
	safeCall   = rpcCall(`"name":"safe_echo"`)
	deployCall = rpcCall(`"name":"deploy_prod"`)
	setLevel   = `{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`
	listTools  = `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`
)

func compressed(s string, deflate bool) string {
	var b bytes.Buffer
	if deflate {
		w := zlib.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
	} else {
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
	}
	return b.String()
}

func utf16le(s string) string {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return string(out)
}

func mcpCorpus() []mcpCase {
	v0318 := hdrs("MCP-Protocol-Version", "2025-03-26")
	deployArgs := func(args string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod","arguments":` + args + `}}`
	}
	safeArgs := func(args string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe_echo","arguments":` + args + `}}`
	}
	big := strings.Repeat(" ", 2<<20)
	return []mcpCase{
		// Controls: what a reader may do reaches the upstream intact.
		{name: "allowed_safe_call", body: safeCall, want: 200},
		{name: "allowed_charset_utf8", body: safeCall, ctype: "application/json; charset=utf-8", want: 200},
		{name: "allowed_charset_upper_no_space", body: safeCall, ctype: "application/json;charset=UTF-8", want: 200},
		{name: "allowed_tools_list", body: listTools, want: 200},
		{name: "allowed_notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, want: 200},
		{name: "allowed_client_response", body: `{"jsonrpc":"2.0","id":7,"result":{}}`, want: 200},
		{name: "allowed_batch_2025_03_26", body: "[" + safeCall + "," + listTools + "]", headers: v0318, want: 200},
		{name: "allowed_admin_deploy", body: deployCall, admin: true, want: 200},
		{name: "allowed_chunked_safe", body: safeCall, headers: hdrs("Transfer-Encoding", "chunked"), want: 200},
		{name: "denied_deploy", body: deployCall, want: 403},
		{name: "denied_set_level", body: setLevel, want: 403},
		// Names read differently by case-insensitive and strict parsers.
		{name: "case_variant_name", body: rpcCall(`"name":"deploy_prod","Name":"safe_echo"`), want: 400},
		{name: "case_variant_name_first", body: rpcCall(`"Name":"safe_echo","name":"deploy_prod"`), want: 400},
		{name: "case_variant_name_upper", body: rpcCall(`"name":"deploy_prod","NAME":"safe_echo"`), want: 400},
		{name: "case_variant_method", body: `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","Method":"tools/list","params":{"level":"x"}}`, want: 400},
		{name: "case_variant_params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod"},"Params":{"name":"safe_echo"}}`, want: 400},
		{name: "only_upper_name", body: rpcCall(`"NAME":"deploy_prod"`), want: refuseOrHarms},
		// Duplicate members, at any depth, however spelled.
		{name: "dup_name", body: rpcCall(`"name":"safe_echo","name":"deploy_prod"`), want: 400},
		{name: "dup_name_reversed", body: rpcCall(`"name":"deploy_prod","name":"safe_echo"`), want: 400},
		{name: "dup_name_escaped_key", body: rpcCall(`"name":"deploy_prod","n\u0061me":"safe_echo"`), want: 400},
		{name: "dup_name_escaped_slash_key", body: rpcCall(`"name":"safe_echo","\u006e\u0061\u006d\u0065":"deploy_prod"`), want: 400},
		{name: "dup_name_type_confusion", body: rpcCall(`"name":1,"name":"deploy_prod"`), want: 400},
		{name: "dup_name_null", body: rpcCall(`"name":"deploy_prod","name":null`), want: 400},
		{name: "dup_method", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"deploy_prod"}}`, want: 400},
		{name: "dup_params", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe_echo"},"params":{"name":"deploy_prod"}}`, want: 400},
		{name: "dup_jsonrpc", body: `{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"tools/list"}`, want: 400},
		{name: "dup_id", body: `{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}`, want: 400},
		{name: "dup_in_arguments", body: safeArgs(`{"text":"a","text":"b"}`), want: 400},
		{name: "dup_deep", body: safeArgs(`{"x":{"y":[{"z":1,"z":2}]}}`), want: 400},
		// Not one strict JSON value.
		{name: "bom", body: "\xef\xbb\xbf" + deployCall, want: 400},
		{name: "bom_safe", body: "\xef\xbb\xbf" + safeCall, want: 400},
		{name: "nan", body: deployArgs(`{"n":NaN}`), want: 400},
		{name: "nan_safe", body: safeArgs(`{"n":NaN}`), want: 400},
		{name: "infinity", body: deployArgs(`{"n":Infinity}`), want: 400},
		{name: "negative_infinity", body: safeArgs(`{"n":-Infinity}`), want: 400},
		{name: "trailing_object", body: safeCall + deployCall, want: 400},
		{name: "trailing_object_newline", body: safeCall + "\n" + deployCall, want: 400},
		{name: "trailing_garbage", body: safeCall + "x", want: 400},
		{name: "trailing_nul", body: safeCall + "\x00", want: 400},
		{name: "trailing_comma", body: strings.TrimSuffix(safeCall, "}") + ",}", want: 400},
		{name: "comment", body: "/*x*/" + deployCall, want: 400},
		{name: "line_comment", body: "// x\n" + safeCall, want: 400},
		{name: "single_quotes", body: strings.ReplaceAll(deployCall, `"`, `'`), want: 400},
		{name: "leading_zero_id", body: `{"jsonrpc":"2.0","id":01,"method":"tools/list"}`, want: 400},
		{name: "plus_number", body: `{"jsonrpc":"2.0","id":+1,"method":"tools/list"}`, want: 400},
		{name: "hex_number", body: `{"jsonrpc":"2.0","id":0x1,"method":"tools/list"}`, want: 400},
		{name: "invalid_utf8_in_name", body: rpcCall(`"name":"deploy_prod` + "\xff" + `"`), want: 400},
		{name: "invalid_utf8_in_argument", body: safeArgs(`{"text":"` + "\xfe\xff" + `"}`), want: 400},
		{name: "overlong_utf8", body: safeArgs(`{"text":"` + "\xc0\xae" + `"}`), want: 400},
		{name: "utf8_surrogate_bytes", body: safeArgs(`{"text":"` + "\xed\xa0\x80" + `"}`), want: 400},
		{name: "lone_high_surrogate", body: safeArgs(`{"text":"\ud800"}`), want: 400},
		{name: "lone_low_surrogate", body: safeArgs(`{"text":"x\udc00y"}`), want: 400},
		{name: "surrogate_in_name", body: rpcCall(`"name":"deploy_prod\udbff"`), want: 400},
		{name: "raw_control_in_string", body: safeArgs(`{"text":"a` + "\x01" + `b"}`), want: 400},
		{name: "utf16_body", body: utf16le(deployCall), want: anyRefusal},
		{name: "whitespace_only", body: " \n\t ", want: 400},
		{name: "deep_nesting", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod","arguments":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`, want: anyRefusal},
		{name: "top_level_string", body: `"tools/call"`, want: 400},
		{name: "top_level_null", body: `null`, want: 400},
		{name: "empty_object", body: `{}`, want: 400},
		// Valid JSON that is not a JSON-RPC 2.0 request to authorize.
		{name: "jsonrpc_1_0", body: strings.Replace(deployCall, `"2.0"`, `"1.0"`, 1), want: anyRefusal},
		{name: "jsonrpc_missing", body: strings.Replace(deployCall, `"jsonrpc":"2.0",`, "", 1), want: anyRefusal},
		{name: "method_array", body: `{"jsonrpc":"2.0","id":1,"method":["tools/call"],"params":{"name":"deploy_prod"}}`, want: anyRefusal},
		{name: "name_array", body: rpcCall(`"name":["deploy_prod"]`), want: anyRefusal},
		{name: "name_object", body: rpcCall(`"name":{"deploy_prod":true}`), want: refuseOrHarms},
		{name: "params_array", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["deploy_prod"]}`, want: refuseOrHarms},
		// A forbidden call dressed as something that "runs nothing".
		{name: "notification_deploy", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"deploy_prod"}}`, want: anyRefusal},
		{name: "null_id_deploy", body: `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"deploy_prod"}}`, want: anyRefusal},
		{name: "hybrid_result_and_method", body: `{"jsonrpc":"2.0","id":1,"result":{},"method":"tools/call","params":{"name":"deploy_prod"}}`, want: anyRefusal},
		{name: "hybrid_error_and_method", body: `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"},"method":"logging/setLevel","params":{"level":"x"}}`, want: anyRefusal},
		{name: "batch_response_then_deploy", body: `[{"jsonrpc":"2.0","id":9,"result":{}},` + deployCall + `]`, headers: v0318, want: 403},
		// Escapes that decode to a forbidden name must be read decoded.
		{name: "escaped_tool_name", body: rpcCall(`"name":"deploy\u005fprod"`), want: 403},
		{name: "escaped_method", body: `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"deploy_prod"}}`, want: 403},
		{name: "escaped_name_key", body: rpcCall(`"\u006eame":"deploy_prod"`), want: 403},
		{name: "escaped_method_key", body: `{"jsonrpc":"2.0","id":1,"\u006dethod":"logging/setLevel","params":{"level":"x"}}`, want: 403},
		{name: "leading_whitespace", body: "\r\n\t " + deployCall, want: 403},
		{name: "members_reordered", body: `{"params":{"arguments":{},"name":"deploy_prod"},"method":"tools/call","id":1,"jsonrpc":"2.0"}`, want: 403},
		// Media types and codings.
		{name: "ctype_text_plain", body: deployCall, ctype: "text/plain", want: 415},
		{name: "ctype_missing", body: deployCall, ctype: "-", want: 415},
		{name: "ctype_form", body: deployCall, ctype: "application/x-www-form-urlencoded", want: 415},
		{name: "ctype_text_json", body: deployCall, ctype: "text/json", want: 415},
		{name: "ctype_json_patch", body: deployCall, ctype: "application/json-patch+json", want: 415},
		{name: "ctype_charset_utf16", body: deployCall, ctype: "application/json; charset=utf-16", want: 415},
		{name: "ctype_multipart", body: deployCall, ctype: "multipart/form-data; boundary=x", want: 415},
		{name: "ctype_duplicate", body: deployCall, headers: hdrs("Content-Type", "text/plain"), want: anyRefusal},
		{name: "ctype_upper_case", body: deployCall, ctype: "Application/JSON", want: anyRefusal},
		{name: "encoding_gzip", body: compressed(deployCall, false), headers: hdrs("Content-Encoding", "gzip"), want: 415},
		{name: "encoding_deflate", body: compressed(deployCall, true), headers: hdrs("Content-Encoding", "deflate"), want: 415},
		{name: "encoding_br", body: deployCall, headers: hdrs("Content-Encoding", "br"), want: 415},
		{name: "encoding_upper_gzip", body: compressed(deployCall, false), headers: hdrs("Content-Encoding", "GZIP"), want: 415},
		{name: "encoding_identity_gzip", body: compressed(deployCall, false), headers: hdrs("Content-Encoding", "identity, gzip"), want: 415},
		{name: "encoding_gzip_safe", body: compressed(safeCall, false), headers: hdrs("Content-Encoding", "gzip"), want: 415},
		// Size.
		{name: "too_big_padding", body: big + deployCall, want: 413},
		{name: "too_big_argument", body: safeArgs(`{"text":"` + strings.Repeat("a", 2<<20) + `"}`), want: 413},
		{name: "chunked_deploy", body: deployCall, headers: hdrs("Transfer-Encoding", "chunked"), want: 403},
		{name: "chunked_too_big", body: big + deployCall, headers: hdrs("Transfer-Encoding", "chunked"), want: 413},
		// Batches.
		{name: "batch_forbidden_no_version", body: "[" + safeCall + "," + deployCall + "]", want: 403},
		{name: "batch_forbidden_2025_03_26", body: "[" + safeCall + "," + deployCall + "]", headers: v0318, want: 403},
		{name: "batch_forbidden_method", body: "[" + listTools + "," + setLevel + "]", headers: v0318, want: 403},
		{name: "batch_forbidden_last_of_many", body: "[" + strings.Repeat(safeCall+",", 50) + deployCall + "]", headers: v0318, want: 403},
		{name: "batch_2025_06_18", body: "[" + safeCall + "," + listTools + "]", headers: hdrs("MCP-Protocol-Version", "2025-06-18"), want: 400},
		{name: "batch_2025_11_25", body: "[" + safeCall + "," + deployCall + "]", headers: hdrs("MCP-Protocol-Version", "2025-11-25"), want: anyRefusal},
		{name: "batch_empty", body: "[]", headers: v0318, want: 400},
		{name: "batch_nested", body: "[[" + deployCall + "]]", headers: v0318, want: 400},
		{name: "batch_with_number", body: "[1," + safeCall + "]", headers: v0318, want: 400},
		{name: "batch_element_duplicate", body: "[" + rpcCall(`"name":"safe_echo","name":"deploy_prod"`) + "]", headers: v0318, want: 400},
		{name: "batch_with_mcp_name", body: "[" + safeCall + "," + deployCall + "]", headers: hdrs("MCP-Protocol-Version", "2025-03-26", "Mcp-Name", "safe_echo"), want: anyRefusal},
		// Beyond the issue: a tool call in the body of another method.
		{name: "put_with_tool_call", body: deployCall, method: "PUT", want: anyRefusal},
		{name: "patch_with_tool_call", body: deployCall, method: "PATCH", want: anyRefusal},
	}
}

func hardenMCPBody(t *testing.T) {
	reader, rblock := newKey(t, "--subject", "mcp-reader", "--scopes", "tools:read")
	admin, ablock := newKey(t, "--subject", "mcp-admin", "--scopes", "tools:read tools:deploy tools:admin")
	up := startRecorder(t)
	gw := harness.StartGateway(t, mcpRulesGateway(up.Addr, rblock+"\n"+ablock))
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	var forwarded []forwardedBody
	for _, c := range mcpCorpus() {
		tag := newTag(c.name)
		key := reader
		if c.admin {
			key = admin
		}
		h := hdrs("Authorization", "Bearer "+key, "Accept", "application/json, text/event-stream", caseHeader, tag)
		switch c.ctype {
		case "":
			h = append(h, [2]string{"Content-Type", "application/json"})
		case "-":
		default:
			h = append(h, [2]string{"Content-Type", c.ctype})
		}
		h = append(h, c.headers...)
		body, chunked := c.body, false
		for _, x := range c.headers {
			chunked = chunked || strings.EqualFold(x[0], "Transfer-Encoding")
		}
		if chunked {
			body = chunk(c.body, 4096) + "0\r\n\r\n"
		}
		method := c.method
		if method == "" {
			method = "POST"
		}
		resp := rawSend(t, host, rawReq{method: method, target: "/mcp", host: host, headers: h, body: body}.String())
		got := up.tagged(tag)
		for _, g := range got {
			forwarded = append(forwarded, forwardedBody{c.name, g.Body, c.admin})
		}
		t.Run(c.name, func(t *testing.T) {
			switch c.want {
			case 200:
				if resp.Status != 200 {
					t.Fatalf("status %d, want 200: %.300s", resp.Status, resp.Body)
				}
				if g, ok := forwardedOnce(t, up, tag, resp); ok && string(g.Body) != c.body {
					t.Errorf("the body reached the upstream altered: %q, want %q", trunc(g.Body), trunc([]byte(c.body)))
				}
			case refuseOrHarms:
				if len(got) == 0 {
					checkRefusal(t, resp, anyRefusal)
				} // a forwarded body is judged by the differential below
			default:
				checkRefusal(t, resp, c.want)
				checkNotForwarded(t, up, tag)
			}
		})
	}
	t.Run("differential_python_node_go", func(t *testing.T) { checkDifferential(t, forwarded) })
}

// chunk writes s in the chunked transfer coding, n bytes a chunk, without
// the last chunk.
func chunk(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, s[:k])
		s = s[k:]
	}
	return b.String()
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
