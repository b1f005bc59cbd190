package mcp

import "fmt"

// MaxDepth is how deeply arrays and objects may nest in a body that is
// read for authorization; deeper bodies are refused (Python's json module
// and Node differ on very deep input, and nothing in MCP needs it).
const MaxDepth = 64

// maxNumber is the longest number literal read, in bytes. Python refuses
// integers of more than 4300 digits where Node reads a float, and no
// MCP message needs more than a few dozen digits.
const maxNumber = 256

// manyKeys is the member count above which an object's names are checked
// for duplicates with a map instead of a linear scan.
const manyKeys = 16

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

// String names the kind as JSON does.
func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}

// node is a parsed JSON value. Only the first levels of a document are
// kept (see parser.keep); deeper values are checked and dropped, so a
// node below that level carries its kind alone.
type node struct {
	kind kind
	// text is the decoded string, or a number's literal text.
	text    string
	members []member
	elems   []node
}

// member is one name/value pair of an object, in document order.
type member struct {
	name string
	val  node
}

// get returns the value of the member called name (names are unique).
func (n node) get(name string) (node, bool) {
	for _, m := range n.members {
		if m.name == name {
			return m.val, true
		}
	}
	return node{}, false
}

// parser reads exactly one RFC 8259 JSON text and refuses everything that
// mainstream readers treat differently: duplicate member names (after
// unescaping) at any depth, invalid UTF-8, lone surrogate escapes, a byte
// order mark, NaN and Infinity, comments, trailing commas or data,
// nesting deeper than MaxDepth and number literals longer than maxNumber.
// Whitespace is only space, tab, CR and LF. It also refuses the member name "__proto__" anywhere: JSON.parse makes
// it an ordinary member, but a JavaScript server that copies an object by
// assignment turns it into the prototype, whose members then read as the
// copy's own (a params.name nobody saw).
type parser struct {
	data []byte
	pos  int
	// keep is how many levels are kept as nodes: the document is level 0.
	keep int
	// names is a stack of the member names of the objects being read.
	names [][]byte
}

// parseStrict reads data, keeping the first keep levels as nodes.
func parseStrict(data []byte, keep int) (node, error) {
	p := &parser{data: data, keep: keep}
	p.space()
	n, err := p.value(0)
	if err != nil {
		return node{}, err
	}
	p.space()
	if p.pos != len(p.data) {
		return node{}, p.fail("data after the JSON value")
	}
	return n, nil
}

// fail wraps ErrMalformed with what is wrong and where.
func (p *parser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, p.pos)
}

// space skips JSON whitespace.
func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value reads the value at p.pos, which is at nesting level level.
func (p *parser) value(level int) (node, error) {
	if p.pos >= len(p.data) {
		return node{}, p.fail("unexpected end of the body")
	}
	keep := level < p.keep
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(level)
	case c == '[':
		return p.array(level)
	case c == '"':
		raw, esc, err := p.str()
		if err != nil || !keep {
			return node{kind: kindString}, err
		}
		return node{kind: kindString, text: string(unescape(raw, esc))}, nil
	case c == '-' || ('0' <= c && c <= '9'):
		start := p.pos
		if err := p.number(); err != nil {
			return node{}, err
		}
		if !keep {
			return node{kind: kindNumber}, nil
		}
		return node{kind: kindNumber, text: string(p.data[start:p.pos])}, nil
	case c == 't':
		return node{kind: kindBool, text: "true"}, p.literal("true")
	case c == 'f':
		return node{kind: kindBool, text: "false"}, p.literal("false")
	case c == 'n':
		return node{kind: kindNull}, p.literal("null")
	default:
		return node{}, p.fail("not a JSON value")
	}
}

// literal reads the literal word.
func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return p.fail("not a JSON value")
	}
	p.pos += len(word)
	return nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, at most
// maxNumber bytes long.
func (p *parser) number() error {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return p.fail("malformed number")
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return p.fail("malformed number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return p.fail("malformed number")
		}
	}
	if p.pos-start > maxNumber {
		p.pos = start
		return p.fail("number too long")
	}
	return nil
}

// peek returns the byte at p.pos, or 0 at the end.
func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

// digits skips ASCII digits and returns how many there were.
func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

// array reads an array at level level.
func (p *parser) array(level int) (node, error) {
	if level+1 > MaxDepth {
		return node{}, p.fail("nesting too deep")
	}
	n := node{kind: kindArray}
	p.pos++ // [
	p.space()
	if p.peek() == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.space()
		v, err := p.value(level + 1)
		if err != nil {
			return node{}, err
		}
		if level+1 < p.keep {
			n.elems = append(n.elems, v)
		}
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return n, nil
		default:
			return node{}, p.fail("expected , or ] in array")
		}
	}
}

// object reads an object at level level, refusing duplicate names.
func (p *parser) object(level int) (node, error) {
	if level+1 > MaxDepth {
		return node{}, p.fail("nesting too deep")
	}
	n := node{kind: kindObject}
	p.pos++ // {
	base := len(p.names)
	defer func() { p.names = p.names[:base] }()
	var seen map[string]struct{}
	p.space()
	if p.peek() == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.space()
		if p.peek() != '"' {
			return node{}, p.fail("expected a member name")
		}
		at := p.pos
		raw, esc, err := p.str()
		if err != nil {
			return node{}, err
		}
		name := unescape(raw, esc)
		if string(name) == "__proto__" {
			p.pos = at
			return node{}, p.fail("member name __proto__")
		}
		if err := p.unique(name, base, &seen); err != nil {
			p.pos = at
			return node{}, err
		}
		p.space()
		if p.peek() != ':' {
			return node{}, p.fail("expected : after a member name")
		}
		p.pos++
		p.space()
		v, err := p.value(level + 1)
		if err != nil {
			return node{}, err
		}
		if level+1 < p.keep {
			n.members = append(n.members, member{name: string(name), val: v})
		}
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return n, nil
		default:
			return node{}, p.fail("expected , or } in object")
		}
	}
}

// unique records name among the names of the object whose first name is
// p.names[base], or reports it as a duplicate.
func (p *parser) unique(name []byte, base int, seen *map[string]struct{}) error {
	if *seen != nil {
		if _, dup := (*seen)[string(name)]; dup {
			return duplicate(name)
		}
		(*seen)[string(name)] = struct{}{}
		return nil
	}
	for _, prev := range p.names[base:] {
		if string(prev) == string(name) {
			return duplicate(name)
		}
	}
	p.names = append(p.names, name)
	if len(p.names)-base > manyKeys {
		*seen = make(map[string]struct{}, 2*manyKeys)
		for _, prev := range p.names[base:] {
			(*seen)[string(prev)] = struct{}{}
		}
	}
	return nil
}

// duplicate reports a repeated member name, shortened for display.
func duplicate(name []byte) error {
	return fmt.Errorf("%w: duplicate member %q", ErrMalformed, shorten(string(name)))
}
