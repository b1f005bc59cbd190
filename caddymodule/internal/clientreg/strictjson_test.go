package clientreg

import (
	"errors"
	"strings"
	"testing"
)

func TestReadObject(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth)
	tooDeep := strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"object", `{"a":"b","c":["d",{"e":1}]}`, true},
		{"whitespace", " \t\r\n{\"a\": [ ] } \n", true},
		{"empty object", `{}`, true},
		{"nested same names in different objects", `{"a":{"a":1},"b":{"a":2}}`, true},
		{"deep enough", deep, true},
		{"too deep", tooDeep, false},
		{"duplicate", `{"a":1,"a":1}`, false},
		{"duplicate after unescaping", `{"client_id":1,"client\u005fid":2}`, false},
		{"duplicate nested", `{"x":{"a":1,"a":2}}`, false},
		{"duplicate in array element", `{"x":[{"a":1,"a":2}]}`, false},
		{"trailing object", `{"a":1}{"a":2}`, false},
		{"trailing garbage", `{"a":1}x`, false},
		{"trailing comma", `{"a":1,}`, false},
		{"comment", `{"a":1 /* c */}`, false},
		{"bom", "\ufeff{\"a\":1}", false},
		{"invalid utf-8", "{\"a\":\"\xff\"}", false},
		{"lone surrogate", `{"a":"\ud800"}`, false},
		{"replacement char", `{"a":"\ufffd"}`, false},
		{"array", `[1]`, false},
		{"string", `"x"`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"unterminated", `{"a":`, false},
		{"nan", `{"a":NaN}`, false},
		{"single quotes", `{'a':1}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := readObject([]byte(tc.in))
			if tc.ok && err != nil {
				t.Fatalf("readObject(%q) = %v", tc.in, err)
			}
			if !tc.ok && (err == nil || !errors.Is(err, errMalformed)) {
				t.Fatalf("readObject(%q) = %v, want errMalformed", tc.in, err)
			}
		})
	}
}

// TestMembersExactNames: a member whose name differs only in case is not
// the member (encoding/json alone would take it).
func TestMembersExactNames(t *testing.T) {
	t.Parallel()
	m, err := parseMetadata([]byte(`{"Client_ID":"https://evil.example/c","REDIRECT_URIS":["https://evil.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.clientID != "" || len(m.redirectURIs) != 0 {
		t.Errorf("case-folded members were read: %+v", m)
	}
	if _, err := parseMetadata([]byte(`{"redirect_uris":"https://a.example/cb"}`)); err == nil {
		t.Error("a string redirect_uris was accepted")
	}
	if _, err := parseMetadata([]byte(`{"client_name":["x"]}`)); err == nil {
		t.Error("an array client_name was accepted")
	}
}
