package mcp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseStrict(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{name: "depth MaxDepth", body: nest(MaxDepth), ok: true},
		{name: "depth MaxDepth+1", body: nest(MaxDepth + 1)},
		{name: "objects MaxDepth+1 deep", body: strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)},
		{name: "same name in nested objects", body: `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`, ok: true},
		{name: "inner names do not leak out", body: `{"a":{"b":1},"b":2}`, ok: true},
		{name: "many distinct names", body: `{` + manyMembers(100) + `}`, ok: true},
		{name: "many names, last repeats the first", body: `{` + manyMembers(100) + `,"k0":1}`},
		{name: "repeat right after the switch to a map", body: `{` + manyMembers(manyKeys+1) + `,"k16":1}`},
		{name: "surrogate pair", body: `"\ud83d\ude00"`, ok: true},
		{name: "all short escapes", body: `"\"\\\/\b\f\n\r\t"`, ok: true},
		{name: "raw DEL and U+FFFD", body: "\"\x7f\uFFFD\"", ok: true},
		{name: "escaped NUL", body: `"\u0000"`, ok: true},
		{name: "short unicode escape", body: `"\u12"`},
		{name: "non-hex unicode escape", body: `"\u12g4"`},
		{name: "escape at the end", body: `"\`},
		{name: "unterminated string", body: `"abc`},
		{name: "unterminated array", body: `[1,`},
		{name: "missing colon", body: `{"a" 1}`},
		{name: "number key", body: `{1:2}`},
		{name: "lone minus", body: `-`},
		{name: "exponent without digits", body: `1e+`},
		{name: "truncated literal", body: `tru`},
		{name: "literal with a tail", body: `nullx`},
		{name: "capitalised literal", body: `True`},
		{name: "empty array and object", body: ` [ { } , [ ] ] `, ok: true},
		{name: "numbers", body: `[0,-0,1.5,-1.5e10,2E-3,1e400,123456789012345678901234567890]`, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseStrict([]byte(tt.body), 2)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("parseStrict(%.40q) = %v, want ok %v", tt.body, err, tt.ok)
			}
		})
	}
}

func TestParseStrictValues(t *testing.T) {
	t.Parallel()
	n, err := parseStrict([]byte(`{"s":"a\u00e9\ud83d\ude00\n","n":-1.5e3,"t":true,"z":null,"o":{"x":"dropped"},"a":["dropped"]}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]node{
		"s": {kind: kindString, text: "aé😀\n"},
		"n": {kind: kindNumber, text: "-1.5e3"},
		"t": {kind: kindBool, text: "true"},
		"z": {kind: kindNull},
		"o": {kind: kindObject},
		"a": {kind: kindArray},
	}
	for name, w := range want {
		got, ok := n.get(name)
		if !ok || got.kind != w.kind || got.text != w.text || got.members != nil || got.elems != nil {
			t.Errorf("member %s = %+v, want %+v (children beyond keep dropped)", name, got, w)
		}
	}
}

func TestParseStrictErrorText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 5000)
	_, err := parseStrict([]byte(`{"`+long+`":1,"`+long+`":2}`), 1)
	if !errors.Is(err, ErrMalformed) || len(err.Error()) > 200 || !strings.Contains(err.Error(), "duplicate member") {
		t.Fatalf("error %.300q: want a short duplicate-member message", err)
	}
	_, err = parseStrict([]byte(`{"a":1}  x`), 1)
	if err == nil || !strings.Contains(err.Error(), "at byte 9") {
		t.Fatalf("error %v: want the offset of the trailing data", err)
	}
}
