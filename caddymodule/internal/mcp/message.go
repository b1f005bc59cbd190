package mcp

import (
	"fmt"
	"strings"
)

// nameParams maps the MCP methods that act on something named to the
// params member that names it; Call.Name is that member's value.
var nameParams = map[string]string{
	"tools/call":            "name",
	"prompts/get":           "name",
	"resources/read":        "uri",
	"resources/subscribe":   "uri",
	"resources/unsubscribe": "uri",
}

// Member names of a JSON-RPC 2.0 message.
const (
	memberJSONRPC = "jsonrpc"
	memberID      = "id"
	memberMethod  = "method"
	memberParams  = "params"
	memberResult  = "result"
	memberError   = "error"
)

// messageMembers are the member names whose look-alikes (other case,
// non-ASCII) are refused at the top of a message.
var messageMembers = []string{memberJSONRPC, memberID, memberMethod, memberParams, memberResult, memberError}

// readBody reads a JSON-RPC body: one message, or (when batchAllowed) a
// non-empty array of messages. It returns one call per message, and
// whether the body was a batch.
func readBody(raw []byte, batchAllowed bool) (calls []Call, batch bool, err error) {
	keep := 3 // message, its members, params members
	if isBatch(raw) {
		keep = 4
	}
	doc, err := parseStrict(raw, keep)
	if err != nil {
		return nil, false, err
	}
	if doc.kind != kindArray {
		c, err := readMessage(doc)
		if err != nil {
			return nil, false, err
		}
		return []Call{c}, false, nil
	}
	if !batchAllowed {
		return nil, true, fmt.Errorf("%w: batches are not allowed in this protocol version", ErrMalformed)
	}
	if len(doc.elems) == 0 {
		return nil, true, fmt.Errorf("%w: empty batch", ErrMalformed)
	}
	calls = make([]Call, 0, len(doc.elems))
	for i, m := range doc.elems {
		c, err := readMessage(m)
		if err != nil {
			return nil, true, fmt.Errorf("batch element %d: %w", i, err)
		}
		calls = append(calls, c)
	}
	return calls, true, nil
}

// isBatch reports whether the first non-whitespace byte opens an array.
func isBatch(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '['
	}
	return false
}

// readMessage reads one JSON-RPC 2.0 message. A request or notification
// (it has a method) yields its call; a response (result or error, no
// method) yields the empty Call, as it runs nothing on the server.
func readMessage(n node) (Call, error) {
	if n.kind != kindObject {
		return Call{}, fmt.Errorf("%w: a message must be an object, not %s", ErrMalformed, n.kind)
	}
	if err := plainNames(n, messageMembers); err != nil {
		return Call{}, err
	}
	if v, ok := n.get(memberJSONRPC); !ok || v.kind != kindString || v.text != "2.0" {
		return Call{}, fmt.Errorf("%w: jsonrpc must be \"2.0\"", ErrMalformed)
	}
	if _, ok := n.get(memberMethod); ok {
		return readRequest(n)
	}
	return Call{}, readResponse(n)
}

// readRequest reads a request or notification.
func readRequest(n node) (Call, error) {
	method, _ := n.get(memberMethod)
	if method.kind != kindString || method.text == "" {
		return Call{}, fmt.Errorf("%w: method must be a non-empty string", ErrMalformed)
	}
	_, hasResult := n.get(memberResult)
	_, hasError := n.get(memberError)
	if hasResult || hasError {
		return Call{}, fmt.Errorf("%w: a message with a method has no result or error", ErrMalformed)
	}
	if id, ok := n.get(memberID); ok && id.kind != kindString && id.kind != kindNumber {
		return Call{}, fmt.Errorf("%w: a request id must be a string or a number", ErrMalformed)
	}
	params, hasParams := n.get(memberParams)
	if hasParams && params.kind != kindObject && params.kind != kindArray {
		return Call{}, fmt.Errorf("%w: params must be an object or an array", ErrMalformed)
	}
	c := Call{Method: method.text}
	key, named := nameParams[c.Method]
	if !named {
		return c, nil
	}
	if params.kind != kindObject {
		return Call{}, fmt.Errorf("%w: %s needs params.%s", ErrMalformed, shorten(c.Method), key)
	}
	if err := plainNames(params, []string{key}); err != nil {
		return Call{}, fmt.Errorf("params: %w", err)
	}
	name, ok := params.get(key)
	if !ok || name.kind != kindString {
		return Call{}, fmt.Errorf("%w: %s needs params.%s as a string", ErrMalformed, c.Method, key)
	}
	c.Name = name.text
	return c, nil
}

// readResponse checks a response: an id, and exactly one of result and
// a well-formed error object, and no other member.
func readResponse(n node) error {
	id, hasID := n.get(memberID)
	_, hasResult := n.get(memberResult)
	e, hasError := n.get(memberError)
	switch {
	case hasResult == hasError:
		return fmt.Errorf("%w: a message needs a method, or exactly one of result and error", ErrMalformed)
	case !hasID:
		return fmt.Errorf("%w: a response needs an id", ErrMalformed)
	case id.kind != kindString && id.kind != kindNumber && (id.kind != kindNull || hasResult):
		return fmt.Errorf("%w: a response id must be a string or a number (null only in an error)", ErrMalformed)
	}
	for _, m := range n.members {
		switch m.name {
		case memberJSONRPC, memberID, memberResult, memberError:
		default:
			return fmt.Errorf("%w: unexpected member %q in a response", ErrMalformed, shorten(m.name))
		}
	}
	if hasResult {
		return nil // any JSON value
	}
	if e.kind != kindObject {
		return fmt.Errorf("%w: error must be an object", ErrMalformed)
	}
	for _, m := range e.members {
		switch m.name {
		case "code", "message", "data":
		default:
			return fmt.Errorf("%w: unexpected member %q in an error", ErrMalformed, shorten(m.name))
		}
	}
	if code, ok := e.get("code"); !ok || code.kind != kindNumber || !isInteger(code.text) {
		return fmt.Errorf("%w: error.code must be an integer", ErrMalformed)
	}
	if msg, ok := e.get("message"); !ok || msg.kind != kindString {
		return fmt.Errorf("%w: error.message must be a string", ErrMalformed)
	}
	return nil
}

// isInteger reports whether a JSON number literal has no fraction or
// exponent.
func isInteger(lit string) bool {
	return !strings.ContainsAny(lit, ".eE")
}

// plainNames refuses member names that servers could read as one of
// known without being it: another letter case (Go's encoding/json and
// .NET match names case-insensitively, with Unicode folding such as
// "ſ" → "s" or "K" (Kelvin) → "k"), or any non-ASCII name at all.
func plainNames(n node, known []string) error {
	for _, m := range n.members {
		for i := 0; i < len(m.name); i++ {
			if m.name[i] >= 0x80 {
				return fmt.Errorf("%w: non-ASCII member name %q", ErrMalformed, shorten(m.name))
			}
		}
		for _, k := range known {
			if m.name != k && strings.EqualFold(m.name, k) {
				return fmt.Errorf("%w: member %q differs from %q only in letter case", ErrMalformed, shorten(m.name), k)
			}
		}
	}
	return nil
}
