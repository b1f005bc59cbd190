package mcp

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

// Headers that MCP Streamable HTTP clients set on each request.
const (
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
	HeaderProtocolVersion = "Mcp-Protocol-Version"
)

// BatchProtocolVersion is the only MCP protocol version that allows
// JSON-RPC batches (2025-06-18 removed them). A batch is read when the
// Mcp-Protocol-Version header is absent or this value, and refused
// otherwise.
const BatchProtocolVersion = "2025-03-26"

// DefaultMaxBody bounds how much of a JSON-RPC body is read to find the
// method and tool, in bytes.
const DefaultMaxBody = 1 << 20

// Errors of ReadCalls. Their text is safe to show to the client; the
// errors ReadCalls returns may wrap them with a short, safe detail, so
// test them with errors.Is.
var (
	// ErrTooLarge means the body exceeds the configured limit (HTTP 413).
	ErrTooLarge = request.ErrBodyTooLarge
	// ErrUnsupportedMediaType means a POST body that is not plain
	// application/json in UTF-8, or has a content encoding (HTTP 415).
	ErrUnsupportedMediaType = errors.New("the request body must be application/json (UTF-8) without a content encoding")
	// ErrMalformed means the body is not exactly one strictly well-formed
	// JSON-RPC 2.0 message or batch, or the MCP headers are malformed
	// (HTTP 400).
	ErrMalformed = errors.New("the request body is not a JSON-RPC message that can be authorized")
	// ErrMismatch means the Mcp-Method/Mcp-Name headers disagree with the
	// body, or accompany a batch (HTTP 400).
	ErrMismatch = errors.New("the Mcp-Method or Mcp-Name header disagrees with the request body")
)

// Call is what a request asks the MCP server to do.
type Call struct {
	// Method is the JSON-RPC method, e.g. "tools/call"; empty for a
	// JSON-RPC response posted by the client, which runs nothing, and for
	// a request that is not a POST and has no Mcp-Method header.
	Method string
	// Name is what a method acts on, for the methods that take one:
	// params.name of tools/call and prompts/get, params.uri of
	// resources/read, resources/subscribe and resources/unsubscribe;
	// empty for any other method.
	Name string
}

// ReadCalls returns every call the request asks for (one for a single
// JSON-RPC message, one per element for a batch, the header call for a
// non-POST). On success the slice is never empty.
//
// A request body (a POST's, or any other method's: servers and routers
// differ on which methods they run) is read (at most max bytes, then put
// back intact for the upstream) strictly, so that the calls returned are
// exactly what any mainstream JSON-RPC server would run, or the request
// is refused:
//
//   - the body MUST be Content-Type application/json (charset, if given,
//     utf-8) with no Content-Encoding other than identity, else
//     ErrUnsupportedMediaType; larger than max: ErrTooLarge;
//   - it MUST be exactly one JSON value (RFC 8259: no byte order mark,
//     comments, NaN or Infinity, trailing data), valid UTF-8 without
//     unpaired surrogate escapes, nested at most MaxDepth deep, with no
//     duplicate member name in any object and no member "__proto__",
//     else ErrMalformed;
//   - each message MUST be a JSON-RPC 2.0 object with "jsonrpc":"2.0".
//     With a method (a non-empty string) it is a request or notification:
//     no result or error, id a string or number if present, params an
//     object or array if present; for the methods Call.Name describes,
//     params MUST be an object whose name member is a string. Without a
//     method it MUST be a response: an id, exactly one of result and
//     error (an object with an integer code and a string message), and
//     no other member; it yields the empty Call, as it runs nothing.
//     Member names that differ from jsonrpc, id, method, params, result,
//     error (or from params.name / params.uri) only in letter case, or
//     that are not ASCII, are refused: Go and .NET servers match names
//     case-insensitively, with Unicode folding;
//   - a batch (a non-empty array of such messages) is read only when the
//     Mcp-Protocol-Version header is absent or BatchProtocolVersion
//     (else ErrMalformed), and never with an Mcp-Method or Mcp-Name
//     header (ErrMismatch: one header cannot describe several calls);
//   - for a single message, Mcp-Method and Mcp-Name, when present, MUST
//     equal the body's method and name (ErrMismatch).
//
// A request without a body (such as the GET that opens an MCP event
// stream, or a DELETE that ends a session) carries the call its
// Mcp-Method and Mcp-Name headers name, possibly the empty Call.
func ReadCalls(r *http.Request, max int64) ([]Call, error) {
	hc, err := headerCall(r.Header)
	if err != nil {
		return nil, err
	}
	// A body is read whatever the method: a server (or a lenient router)
	// may run a JSON-RPC body sent with PUT, PATCH or "post" too.
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return []Call{hc}, nil
	}
	if err := checkMediaType(r.Header); err != nil {
		return nil, err
	}
	raw, err := request.PeekBody(r, max)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	calls, batch, err := readBody(raw, batchAllowed(r.Header))
	if err != nil {
		return nil, err
	}
	_, hasMethod := r.Header[HeaderMethod]
	_, hasName := r.Header[HeaderName]
	switch {
	case batch && (hasMethod || hasName):
		return nil, fmt.Errorf("%w: a batch cannot carry Mcp-Method or Mcp-Name", ErrMismatch)
	case batch:
		return calls, nil
	case (hasMethod && hc.Method != calls[0].Method) || (hasName && hc.Name != calls[0].Name):
		return nil, ErrMismatch
	}
	return calls, nil
}

// headerCall returns the call the Mcp-Method and Mcp-Name headers name;
// each may appear at most once.
func headerCall(h http.Header) (Call, error) {
	m, n := h[HeaderMethod], h[HeaderName]
	if len(m) > 1 || len(n) > 1 {
		return Call{}, fmt.Errorf("%w: Mcp-Method and Mcp-Name may appear at most once", ErrMalformed)
	}
	var c Call
	if len(m) == 1 {
		c.Method = m[0]
	}
	if len(n) == 1 {
		c.Name = n[0]
	}
	return c, nil
}

// batchAllowed reports whether the protocol version the client announces
// allows JSON-RPC batches.
func batchAllowed(h http.Header) bool {
	v := h[HeaderProtocolVersion]
	return len(v) == 0 || (len(v) == 1 && v[0] == BatchProtocolVersion)
}

// checkMediaType accepts only a body the gateway reads exactly as the
// server will: one Content-Type, application/json, charset utf-8 or
// none (other parameters are ignored), and no Content-Encoding but
// identity. A server that honours another charset (the TypeScript SDK
// decodes by it) or inflates gzip would read bytes we never saw.
func checkMediaType(h http.Header) error {
	for _, v := range h.Values("Content-Encoding") {
		for _, coding := range strings.Split(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return fmt.Errorf("%w: content encoding %q", ErrUnsupportedMediaType, shorten(c))
			}
		}
	}
	types := h.Values("Content-Type")
	if len(types) != 1 {
		return fmt.Errorf("%w: expected one Content-Type, got %d", ErrUnsupportedMediaType, len(types))
	}
	mt, params, err := mime.ParseMediaType(types[0])
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%w: content type %q", ErrUnsupportedMediaType, shorten(types[0]))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w: charset %q", ErrUnsupportedMediaType, shorten(cs))
	}
	return nil
}

// MatchName reports whether name matches a glob such as `deploy_*`
// (path.Match syntax; a malformed pattern matches nothing).
func MatchName(glob, name string) bool {
	ok, err := path.Match(glob, name)
	return err == nil && ok
}
