package clientreg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds how deeply a metadata document may nest; client
// metadata is an object of strings and arrays of strings, so anything
// deep is hostile.
const maxJSONDepth = 8

// errMalformed is wrapped by every error of readObject.
var errMalformed = errors.New("malformed JSON")

// readObject reads data as exactly one JSON object and returns its members
// by exact name. It refuses what JSON readers disagree on, so no other
// reader could see different metadata than this one: invalid UTF-8, a
// byte order mark, duplicate member names (after unescaping) at any depth,
// strings holding U+FFFD (which Go also produces for lone surrogate
// escapes), nesting deeper than maxJSONDepth, and data after the object.
// Member names are matched exactly (encoding/json alone would also fill a
// field from "Client_Name").
func readObject(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: invalid UTF-8", errMalformed)
	}
	if err := checkTokens(data); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if members == nil {
		return nil, fmt.Errorf("%w: not a JSON object", errMalformed)
	}
	return members, nil
}

// checkTokens walks data token by token, checking the rules readObject
// documents.
func checkTokens(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	// A frame is an open container: names holds an object's member names
	// read so far (nil for arrays); key says whether an object's next token
	// is a name.
	type frame struct {
		names map[string]struct{}
		key   bool
	}
	var stack []frame
	first := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) != 0 || first {
				return fmt.Errorf("%w: unexpected end of data", errMalformed)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errMalformed, err)
		}
		if len(stack) == 0 && !first {
			return fmt.Errorf("%w: data after the JSON value", errMalformed)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return fmt.Errorf("%w: not a JSON object", errMalformed)
			}
		}
		first = false
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		isName := top != nil && top.names != nil && top.key
		if top != nil && top.names != nil {
			// Object context: names and values alternate.
			top.key = !top.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return fmt.Errorf("%w: nested deeper than %d", errMalformed, maxJSONDepth)
				}
				f := frame{}
				if v == '{' {
					f.names, f.key = map[string]struct{}{}, true
				}
				stack = append(stack, f)
			case '}', ']':
				// The object holding the closed container already
				// expects a name: it flipped when the container opened.
				stack = stack[:len(stack)-1]
			}
		case string:
			if strings.ContainsRune(v, utf8.RuneError) {
				return fmt.Errorf("%w: string holds U+FFFD or a lone surrogate", errMalformed)
			}
			if isName {
				if _, dup := top.names[v]; dup {
					return fmt.Errorf("%w: duplicate member %q", errMalformed, shorten(v))
				}
				top.names[v] = struct{}{}
			}
		}
	}
}

// shorten cuts s for an error message.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
