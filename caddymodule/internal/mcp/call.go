package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"
)

// Headers that MCP Streamable HTTP clients set on each request.
const (
	HeaderMethod = "Mcp-Method"
	HeaderName   = "Mcp-Name"
)

// DefaultMaxBody bounds how much of a JSON-RPC body is read to find the
// method and tool, in bytes.
const DefaultMaxBody = 1 << 20

// Errors of ReadCall; their text is safe to show.
var (
	// ErrMismatch means the Mcp-Method/Mcp-Name headers disagree with the body.
	ErrMismatch = errors.New("the Mcp-Method or Mcp-Name header disagrees with the request body")
	// ErrTooLarge means the body exceeds the configured limit.
	ErrTooLarge = errors.New("the request body is too large to authorize")
)

// Call is what a request asks the MCP server to do.
type Call struct {
	// Method is the JSON-RPC method, e.g. "tools/call"; empty when unknown.
	Method string
	// Name is the tool (or prompt/resource) name for methods that take
	// one, e.g. the `params.name` of tools/call.
	Name string
}

// rpc is the part of a JSON-RPC request that matters here.
type rpc struct {
	Method string `json:"method"`
	Params struct {
		Name string `json:"name"`
	} `json:"params"`
}

// ReadCall returns the call a request carries: from the Mcp-Method and
// Mcp-Name headers, and from the JSON-RPC body of a POST (read up to max
// bytes and put back for the upstream). When both are present they must
// agree. A batch or non-JSON body yields the headers' values only.
func ReadCall(r *http.Request, max int64) (Call, error) {
	hc := Call{Method: r.Header.Get(HeaderMethod), Name: r.Header.Get(HeaderName)}
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody ||
		!strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "json") {
		return hc, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return hc, err
	}
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), rest), rest}
	if int64(len(raw)) > max {
		return hc, ErrTooLarge
	}
	var body rpc
	if json.Unmarshal(raw, &body) != nil || body.Method == "" {
		return hc, nil
	}
	bc := Call{Method: body.Method, Name: body.Params.Name}
	if (hc.Method != "" && hc.Method != bc.Method) || (hc.Name != "" && hc.Name != bc.Name) {
		return hc, ErrMismatch
	}
	return bc, nil
}

// MatchName reports whether name matches a glob such as `deploy_*`
// (path.Match syntax; a malformed pattern matches nothing).
func MatchName(glob, name string) bool {
	ok, err := path.Match(glob, name)
	return err == nil && ok
}
