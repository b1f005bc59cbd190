package mcp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// hostileCase is one body of the corpus and what ReadCalls must make of
// it when posted as application/json with no MCP headers: want nil means
// refused with ErrMalformed.
type hostileCase struct {
	name string
	body string
	want []Call
}

// Pieces of bodies.
const (
	head = `{"jsonrpc":"2.0","id":1,`
	tc   = `"method":"tools/call"`
)

// toolCall is a tools/call of tool name (JSON string content).
func toolCall(name string) string {
	return head + tc + `,"params":{"name":"` + name + `","arguments":{}}}`
}

// calls builds a want list from method, name pairs.
func calls(mn ...string) []Call {
	var out []Call
	for i := 0; i+1 < len(mn); i += 2 {
		out = append(out, Call{Method: mn[i], Name: mn[i+1]})
	}
	return out
}

var deploy = calls("tools/call", "deploy_prod")

// hostile is the corpus of the differential, corpus and fuzz tests.
var hostile = []hostileCase{
	// Well-formed bodies, accepted.
	{"plain tools/call", toolCall("deploy_prod"), deploy},
	{"tools/list without params", head + `"method":"tools/list"}`, calls("tools/list", "")},
	{"tools/list with array params", head + `"method":"tools/list","params":[]}`, calls("tools/list", "")},
	{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, calls("notifications/initialized", "")},
	{"prompts/get", head + `"method":"prompts/get","params":{"name":"greet"}}`, calls("prompts/get", "greet")},
	{"resources/read", head + `"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, calls("resources/read", "file:///etc/passwd")},
	{"resources/subscribe", head + `"method":"resources/subscribe","params":{"uri":"db://x","name":"y"}}`, calls("resources/subscribe", "db://x")},
	{"batch of two", `[` + toolCall("safe_echo") + `,` + toolCall("deploy_prod") + `]`, calls("tools/call", "safe_echo", "tools/call", "deploy_prod")},
	{"batch of one", `[` + toolCall("deploy_prod") + `]`, deploy},
	{"batch with a response", `[{"jsonrpc":"2.0","id":7,"result":{}},` + toolCall("deploy_prod") + `]`, calls("", "", "tools/call", "deploy_prod")},
	{"response", `{"jsonrpc":"2.0","id":"a","result":{"content":[]}}`, calls("", "")},
	{"error response with null id", `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x","data":[1]}}`, calls("", "")},
	{"json whitespace around", " \t\r\n" + toolCall("deploy_prod") + "\n\r\t ", deploy},
	{"escape in the name", toolCall(`deploy\u005fprod`), deploy},
	{"escaped slash in the method", head + `"method":"tools\/call","params":{"name":"deploy_prod"}}`, deploy},
	{"escaped key alone", head + tc + `,"params":{"n\u0061me":"deploy_prod"}}`, deploy},
	{"key with a trailing space is another key", head + tc + `,"params":{"name ":"safe_echo","name":"deploy_prod"}}`, deploy},
	{"key with a NUL escape is another key", head + tc + `,"params":{"name\u0000":"safe_echo","name":"deploy_prod"}}`, deploy},
	{"string id", `{"jsonrpc":"2.0","id":"x-1",` + tc + `,"params":{"name":"deploy_prod"}}`, deploy},
	{"big integer id", `{"jsonrpc":"2.0","id":123456789012345678901234567890,` + tc + `,"params":{"name":"deploy_prod"}}`, deploy},
	{"huge exponent id", `{"jsonrpc":"2.0","id":1e400,` + tc + `,"params":{"name":"deploy_prod"}}`, deploy},
	{"100-digit id", `{"jsonrpc":"2.0","id":` + strings.Repeat("9", 100) + `,` + tc + `,"params":{"name":"deploy_prod"}}`, deploy},
	{"negative zero and exponent in arguments", head + tc + `,"params":{"name":"deploy_prod","arguments":{"a":-0,"b":1E+2,"c":0.5e-3}}}`, deploy},
	{"very long name", toolCall(strings.Repeat("a", 10000)), calls("tools/call", strings.Repeat("a", 10000))},
	{"raw U+2028 inside the name", toolCall("deploy\u2028prod"), calls("tools/call", "deploy\u2028prod")},
	{"non-ASCII name", toolCall("déploiement"), calls("tools/call", "déploiement")},
	{"non-ASCII key deep in arguments", head + tc + `,"params":{"name":"deploy_prod","arguments":{"ключ":"v","Name":"x"}}}`, deploy},
	{"name inside arguments is not the tool", head + tc + `,"params":{"arguments":{"name":"safe_echo"},"name":"deploy_prod"}}`, deploy},
	{"nesting 60 deep in arguments", head + tc + `,"params":{"name":"deploy_prod","arguments":{"a":` + strings.Repeat("[", 57) + strings.Repeat("]", 57) + `}}}`, deploy},
	{"unknown extra member in a request", head + tc + `,"params":{"name":"deploy_prod"},"extra":1}`, deploy},

	// Case variants of names (Go and .NET servers fold case).
	{"Name beside name", head + tc + `,"params":{"name":"deploy_prod","Name":"safe_echo"}}`, nil},
	{"Name alone", head + tc + `,"params":{"Name":"deploy_prod"}}`, nil},
	{"NAME beside name", head + tc + `,"params":{"NAME":"deploy_prod","name":"safe_echo"}}`, nil},
	{"Method beside method", head + `"method":"tools/list","Method":"tools/call","params":{"name":"deploy_prod"}}`, nil},
	{"Params beside params", head + tc + `,"params":{"name":"safe_echo"},"Params":{"name":"deploy_prod"}}`, nil},
	{"ID member", `{"jsonrpc":"2.0","ID":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"JSONRPC member", `{"JSONRPC":"2.0","jsonrpc":"2.0","id":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"long s folds to params in Go", head + tc + `,"params":{"name":"safe_echo"},"paramſ":{"name":"deploy_prod"}}`, nil},
	{"long s in jsonrpc", `{"jſonrpc":"2.0","jsonrpc":"2.0","id":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"fullwidth name key", head + tc + `,"params":{"ｎａｍｅ":"deploy_prod","name":"safe_echo"}}`, nil},
	{"Result in a request", head + tc + `,"params":{"name":"deploy_prod"},"Result":{}}`, nil},

	// Duplicate member names, at every depth.
	{"duplicate name", head + tc + `,"params":{"name":"deploy_prod","name":"safe_echo"}}`, nil},
	{"duplicate method", head + `"method":"tools/call","method":"tools/list","params":{"name":"deploy_prod"}}`, nil},
	{"duplicate params", head + tc + `,"params":{"name":"deploy_prod"},"params":{"name":"safe_echo"}}`, nil},
	{"duplicate jsonrpc", `{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,` + tc + `,"params":{"name":"x"}}`, nil},
	{"duplicate id", `{"jsonrpc":"2.0","id":1,"id":2,` + tc + `,"params":{"name":"x"}}`, nil},
	{"duplicate deep in arguments", head + tc + `,"params":{"name":"x","arguments":{"a":[{"b":{"c":1,"c":2}}]}}}`, nil},
	{"duplicate in a response result", `{"jsonrpc":"2.0","id":1,"result":{"a":1,"a":1}}`, nil},
	{"duplicate by escape", head + tc + `,"params":{"name":"safe_echo","n\u0061me":"deploy_prod"}}`, nil},
	{"duplicate by upper-case escape", head + tc + `,"params":{"\u006Eame":"safe_echo","name":"deploy_prod"}}`, nil},
	{"duplicate method by escape", head + `"method":"tools/list","m\u0065thod":"tools/call","params":{"name":"deploy_prod"}}`, nil},
	{"type confusion", head + tc + `,"params":{"name":1,"name":"deploy_prod"}}`, nil},
	{"duplicate in the second batch element", `[` + toolCall("safe_echo") + `,` + head + tc + `,"params":{"name":"a","name":"b"}}]`, nil},
	{"duplicate among 20 members", head + tc + `,"params":{"name":"x","arguments":{` + manyMembers(20) + `,"k3":0}}}`, nil},

	// Types.
	{"name is a number", head + tc + `,"params":{"name":1}}`, nil},
	{"name is null", head + tc + `,"params":{"name":null}}`, nil},
	{"name is an array", head + tc + `,"params":{"name":["deploy_prod"]}}`, nil},
	{"name is an object", head + tc + `,"params":{"name":{"toString":"deploy_prod"}}}`, nil},
	{"uri is a number", head + `"method":"resources/read","params":{"uri":7}}`, nil},
	{"tools/call without params", head + tc + `}`, nil},
	{"tools/call without name", head + tc + `,"params":{"arguments":{}}}`, nil},
	{"tools/call with array params", head + tc + `,"params":["deploy_prod",{}]}`, nil},
	{"params null", head + tc + `,"params":null}`, nil},
	{"params string", head + `"method":"tools/list","params":"x"}`, nil},
	{"method is a number", head + `"method":1}`, nil},
	{"method is null", head + `"method":null}`, nil},
	{"method is an array", head + `"method":["tools/call"],"params":{"name":"deploy_prod"}}`, nil},
	{"method is empty", head + `"method":""}`, nil},
	{"jsonrpc missing", `{"id":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"jsonrpc as a number", `{"jsonrpc":2.0,"id":1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"id is an object", `{"jsonrpc":"2.0","id":{},` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"id is null in a request", `{"jsonrpc":"2.0","id":null,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"method and result", head + tc + `,"params":{"name":"deploy_prod"},"result":{}}`, nil},
	{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}`, nil},
	{"response without id", `{"jsonrpc":"2.0","result":{}}`, nil},
	{"response with params", `{"jsonrpc":"2.0","id":1,"result":{},"params":{"name":"deploy_prod"}}`, nil},
	{"error code with a fraction", `{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}`, nil},
	{"neither method nor result", `{"jsonrpc":"2.0","id":1,"params":{"name":"deploy_prod"}}`, nil},
	{"__proto__ in params", head + tc + `,"params":{"__proto__":{"name":"deploy_prod"},"name":"safe_echo"}}`, nil},
	{"__proto__ at the top", `{"__proto__":{"method":"tools/call"},"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil},
	{"__proto__ by escape deep down", head + tc + `,"params":{"name":"x","arguments":{"\u005f_proto__":{}}}}`, nil},

	// Not exactly one RFC 8259 value.
	{"UTF-8 BOM", "\ufeff" + toolCall("deploy_prod"), nil},
	{"UTF-16LE with BOM", utf16le("\ufeff" + toolCall("deploy_prod")), nil},
	{"UTF-16LE without BOM", utf16le(toolCall("deploy_prod")), nil},
	{"NaN", head + tc + `,"params":{"name":"deploy_prod","arguments":{"x":NaN}}}`, nil},
	{"Infinity id", `{"jsonrpc":"2.0","id":Infinity,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"-Infinity id", `{"jsonrpc":"2.0","id":-Infinity,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"trailing comma in an object", head + tc + `,"params":{"name":"deploy_prod",}}`, nil},
	{"trailing comma in a batch", `[` + toolCall("deploy_prod") + `,]`, nil},
	{"line comment", head + tc + `,"params":{"name":"deploy_prod"}} // hi`, nil},
	{"block comment", head + `/* x */` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"trailing garbage", toolCall("deploy_prod") + `x`, nil},
	{"two values", toolCall("safe_echo") + toolCall("deploy_prod"), nil},
	{"value then null", toolCall("deploy_prod") + ` null`, nil},
	{"trailing NUL", toolCall("deploy_prod") + "\x00", nil},
	{"leading no-break space", "\u00a0" + toolCall("deploy_prod"), nil},
	{"trailing line separator", toolCall("deploy_prod") + "\u2028", nil},
	{"leading form feed", "\f" + toolCall("deploy_prod"), nil},
	{"single quotes", `{'jsonrpc':'2.0','id':1,'method':'tools/call','params':{'name':'deploy_prod'}}`, nil},
	{"unquoted keys", `{jsonrpc:"2.0",id:1,method:"tools/call",params:{name:"deploy_prod"}}`, nil},
	{"leading zero id", `{"jsonrpc":"2.0","id":01,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"plus sign id", `{"jsonrpc":"2.0","id":+1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"hex id", `{"jsonrpc":"2.0","id":0x1,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"5000-digit id (Python refuses, Node rounds)", `{"jsonrpc":"2.0","id":` + strings.Repeat("9", 5000) + `,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"300-digit fraction in arguments", head + tc + `,"params":{"name":"deploy_prod","arguments":{"x":0.` + strings.Repeat("1", 300) + `}}}`, nil},
	{"fraction without digits", `{"jsonrpc":"2.0","id":1.,` + tc + `,"params":{"name":"deploy_prod"}}`, nil},
	{"raw tab in a string", toolCall("deploy\tprod"), nil},
	{"invalid escape", toolCall(`deploy\x5fprod`), nil},
	{"empty body", "", nil},
	{"whitespace only", " \n", nil},
	{"top-level string", `"tools/call"`, nil},
	{"top-level null", `null`, nil},
	{"top-level number", `1`, nil},

	// Encoding.
	{"invalid UTF-8 byte in the name", toolCall("deploy_prod\xff"), nil},
	{"overlong UTF-8", toolCall("deploy\xc0\xafprod"), nil},
	{"UTF-8 encoded surrogate", toolCall("deploy\xed\xa0\x80"), nil},
	{"truncated UTF-8", toolCall("deploy\xe2\x82"), nil},
	{"invalid UTF-8 in a key", head + tc + `,"params":{"name":"deploy_prod","n` + "\xff" + `":1}}`, nil},
	{"lone high surrogate", toolCall(`deploy\ud800`), nil},
	{"lone low surrogate", toolCall(`deploy\udc00`), nil},
	{"high surrogate before a letter", toolCall(`deploy\ud800\u0041`), nil},
	{"lone surrogate in a key", head + tc + `,"params":{"name":"deploy_prod","\ud800":1}}`, nil},
	{"lone surrogate deep down", head + tc + `,"params":{"name":"deploy_prod","arguments":{"a":["\udfff"]}}}`, nil},

	// Batches and nesting.
	{"empty batch", `[]`, nil},
	{"nested batch", `[[` + toolCall("deploy_prod") + `]]`, nil},
	{"batch with a number", `[` + toolCall("safe_echo") + `,1]`, nil},
	{"batch with null", `[null]`, nil},
	{"batch with a bad element", `[` + toolCall("safe_echo") + `,{"jsonrpc":"2.0","id":2,"method":1}]`, nil},
	{"nesting 70 deep in arguments", head + tc + `,"params":{"name":"deploy_prod","arguments":{"a":` + strings.Repeat("[", 67) + strings.Repeat("]", 67) + `}}}`, nil},
	{"nesting 2000 deep", strings.Repeat("[", 2000) + strings.Repeat("]", 2000), nil},
}

// manyMembers returns n members "k0":0,"k1":0,… for an object.
func manyMembers(n int) string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = `"k` + strconv.Itoa(i) + `":0`
	}
	return strings.Join(ms, ",")
}

// utf16le encodes s as UTF-16LE.
func utf16le(s string) string {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

// post is a POST of body with the given header pairs, of unknown length
// (as if chunked), so even an empty body is read.
func post(body string, header ...string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", io.MultiReader(strings.NewReader(body)))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	if len(hostile) < 60 {
		t.Fatalf("the corpus has %d bodies, want at least 60", len(hostile))
	}
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadCalls(post(tt.body, "Content-Type", "application/json"), DefaultMaxBody)
			if tt.want == nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ReadCalls = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ReadCalls = %+v, %v; want %+v", shortCalls(got), err, shortCalls(tt.want))
			}
		})
	}
}

// shortCalls shortens names for failure messages.
func shortCalls(cs []Call) []Call {
	out := slices.Clone(cs)
	for i := range out {
		out[i].Name = shorten(out[i].Name)
	}
	return out
}
