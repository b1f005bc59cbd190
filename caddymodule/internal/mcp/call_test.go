package mcp

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

const contentType = "Content-Type"

func TestReadCalls(t *testing.T) {
	t.Parallel()
	call := toolCall("deploy_prod")
	batch := `[` + toolCall("safe_echo") + `,` + call + `]`
	both := calls("tools/call", "safe_echo", "tools/call", "deploy_prod")
	tests := []struct {
		name   string
		method string // default POST
		body   string
		header []string
		// sized gives the request a Content-Length (default: unknown, as
		// when chunked); sized and empty is a request without a body.
		sized bool
		max   int64 // default DefaultMaxBody
		want  []Call
		err   error
	}{
		// Media type and encoding.
		{name: "application/json", body: call, header: []string{contentType, "application/json"}, want: deploy},
		{name: "charset utf-8", body: call, header: []string{contentType, "application/json; charset=utf-8"}, want: deploy},
		{name: "media type in upper case", body: call, header: []string{contentType, "Application/JSON; Charset=UTF-8"}, want: deploy},
		{name: "quoted charset", body: call, header: []string{contentType, `application/json;charset="utf-8"`}, want: deploy},
		{name: "other parameter", body: call, header: []string{contentType, "application/json; profile=x"}, want: deploy},
		{name: "charset utf-16", body: call, header: []string{contentType, "application/json; charset=utf-16"}, err: ErrUnsupportedMediaType},
		{name: "charset latin-1", body: call, header: []string{contentType, "application/json; charset=iso-8859-1"}, err: ErrUnsupportedMediaType},
		{name: "charset utf8 spelled without hyphen", body: call, header: []string{contentType, "application/json; charset=utf8"}, err: ErrUnsupportedMediaType},
		{name: "text/plain", body: call, header: []string{contentType, "text/plain"}, err: ErrUnsupportedMediaType},
		{name: "no content type", body: call, err: ErrUnsupportedMediaType},
		{name: "json suffix type", body: call, header: []string{contentType, "application/vnd.api+json"}, err: ErrUnsupportedMediaType},
		{name: "json-rpc type", body: call, header: []string{contentType, "application/json-rpc"}, err: ErrUnsupportedMediaType},
		{name: "list of types", body: call, header: []string{contentType, "application/json, text/plain"}, err: ErrUnsupportedMediaType},
		{name: "two content types", body: call, header: []string{contentType, "application/json", contentType, "application/json"}, err: ErrUnsupportedMediaType},
		{name: "duplicate charset", body: call, header: []string{contentType, "application/json; charset=utf-8; charset=latin1"}, err: ErrUnsupportedMediaType},
		{name: "gzip", body: call, header: []string{contentType, "application/json", "Content-Encoding", "gzip"}, err: ErrUnsupportedMediaType},
		{name: "gzip after identity", body: call, header: []string{contentType, "application/json", "Content-Encoding", "identity, gzip"}, err: ErrUnsupportedMediaType},
		{name: "br in a second header", body: call, header: []string{contentType, "application/json", "Content-Encoding", "identity", "Content-Encoding", "br"}, err: ErrUnsupportedMediaType},
		{name: "identity", body: call, header: []string{contentType, "application/json", "Content-Encoding", "Identity"}, want: deploy},

		// Size.
		{name: "exactly max", body: call, max: int64(len(call)), header: []string{contentType, "application/json"}, want: deploy},
		{name: "declared length over max", body: call + " ", sized: true, max: int64(len(call)), header: []string{contentType, "application/json"}, err: ErrTooLarge},
		{name: "unknown length over max", body: call + " ", max: int64(len(call)), header: []string{contentType, "application/json"}, err: ErrTooLarge},
		{name: "empty body of unknown length", body: "", header: []string{contentType, "application/json"}, err: ErrMalformed},

		// Headers against the body.
		{name: "headers agree", body: call, header: []string{contentType, "application/json", HeaderMethod, "tools/call", HeaderName, "deploy_prod"}, want: deploy},
		{name: "headers agree with escapes in the body", body: head + `"method":"tools\/call","params":{"name":"deploy\u005fprod"}}`, header: []string{contentType, "application/json", HeaderMethod, "tools/call", HeaderName, "deploy_prod"}, want: deploy},
		{name: "name disagrees", body: call, header: []string{contentType, "application/json", HeaderName, "safe_echo"}, err: ErrMismatch},
		{name: "method disagrees", body: call, header: []string{contentType, "application/json", HeaderMethod, "tools/list"}, err: ErrMismatch},
		{name: "name header for a method without one", body: head + `"method":"tools/list"}`, header: []string{contentType, "application/json", HeaderName, "deploy_prod"}, err: ErrMismatch},
		{name: "empty name header", body: call, header: []string{contentType, "application/json", HeaderName, ""}, err: ErrMismatch},
		{name: "method header on a response", body: `{"jsonrpc":"2.0","id":1,"result":{}}`, header: []string{contentType, "application/json", HeaderMethod, "tools/call"}, err: ErrMismatch},
		{name: "two method headers", body: call, header: []string{contentType, "application/json", HeaderMethod, "tools/call", HeaderMethod, "tools/list"}, err: ErrMalformed},

		// Batches and protocol versions.
		{name: "batch without a version", body: batch, header: []string{contentType, "application/json"}, want: both},
		{name: "batch in 2025-03-26", body: batch, header: []string{contentType, "application/json", HeaderProtocolVersion, "2025-03-26"}, want: both},
		{name: "batch in 2025-06-18", body: batch, header: []string{contentType, "application/json", HeaderProtocolVersion, "2025-06-18"}, err: ErrMalformed},
		{name: "batch in 2025-11-25", body: batch, header: []string{contentType, "application/json", HeaderProtocolVersion, "2025-11-25"}, err: ErrMalformed},
		{name: "batch with two versions", body: batch, header: []string{contentType, "application/json", HeaderProtocolVersion, "2025-03-26", HeaderProtocolVersion, "2025-06-18"}, err: ErrMalformed},
		{name: "batch with a method header", body: batch, header: []string{contentType, "application/json", HeaderMethod, "tools/call"}, err: ErrMismatch},
		{name: "batch of one with a name header", body: `[` + call + `]`, header: []string{contentType, "application/json", HeaderName, "deploy_prod"}, err: ErrMismatch},
		{name: "single message in 2025-06-18", body: call, header: []string{contentType, "application/json", HeaderProtocolVersion, "2025-06-18"}, want: deploy},

		// Requests that carry no body to read.
		{name: "GET with headers", method: "GET", sized: true, header: []string{HeaderMethod, "tools/call", HeaderName, "deploy_prod"}, want: deploy},
		{name: "GET with a body is read", method: "GET", body: toolCall("safe_echo"), header: []string{contentType, "application/json", HeaderMethod, "tools/call", HeaderName, "deploy_prod"}, err: ErrMismatch},
		{name: "PUT with a tool call is read", method: "PUT", body: call, header: []string{contentType, "application/json"}, want: deploy},
		{name: "PATCH with a text body", method: "PATCH", body: call, header: []string{contentType, "text/plain"}, err: ErrUnsupportedMediaType},
		{name: "lower-case post is read", method: "post", body: call, header: []string{contentType, "application/json", HeaderName, "safe_echo"}, err: ErrMismatch},
		{name: "DELETE without headers", method: "DELETE", sized: true, want: calls("", "")},
		{name: "GET with two name headers", method: "GET", header: []string{HeaderName, "a", HeaderName, "b"}, err: ErrMalformed},
		{name: "POST with Content-Length 0", body: "", sized: true, header: []string{contentType, "text/plain", HeaderMethod, "tools/list"}, want: calls("tools/list", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := post(tt.body, tt.header...)
			if tt.method != "" {
				r.Method = tt.method
			}
			if tt.sized {
				r.ContentLength = int64(len(tt.body))
				if tt.body == "" {
					r.Body = http.NoBody
				}
			}
			limit := tt.max
			if limit == 0 {
				limit = DefaultMaxBody
			}
			got, err := ReadCalls(r, limit)
			if !errors.Is(err, tt.err) || (err == nil && !slices.Equal(got, tt.want)) {
				t.Fatalf("ReadCalls = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
			if err == nil && len(got) == 0 {
				t.Fatal("ReadCalls accepted with no call")
			}
			if rest, _ := io.ReadAll(r.Body); string(rest) != tt.body {
				t.Fatalf("body not preserved: %q", rest)
			}
		})
	}
}

func TestReadCallsBodyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body func() io.ReadCloser
		err  error
	}{
		{name: "MaxBytesReader limit", err: ErrTooLarge, body: func() io.ReadCloser {
			return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(toolCall("deploy_prod"))), 10)
		}},
		{name: "read failure", err: errBroken, body: func() io.ReadCloser {
			return io.NopCloser(iotest.ErrReader(errBroken))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := post("", contentType, "application/json")
			r.Body = tt.body()
			_, err := ReadCalls(r, DefaultMaxBody)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ReadCalls error %v, want %v", err, tt.err)
			}
			if strings.Contains(err.Error(), errBroken.Error()) {
				t.Fatalf("error text %q shows the cause", err)
			}
		})
	}
}

// errBroken stands for a network error whose text must not be shown.
var errBroken = errors.New("read tcp 10.0.0.1:443: connection reset")

func TestMatchName(t *testing.T) {
	t.Parallel()
	if !MatchName("deploy_*", "deploy_prod") || MatchName("deploy_*", "echo") || MatchName("[", "x") {
		t.Fatal("MatchName is wrong")
	}
}

func BenchmarkReadCalls(b *testing.B) {
	body := head + tc + `,"params":{"name":"deploy_prod","arguments":{"env":"prod","replicas":3,"tags":["a","b"],"meta":{"by":"ci","dry":false}}}}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if _, err := ReadCalls(r, DefaultMaxBody); err != nil {
			b.Fatal(err)
		}
	}
}
