package request

import (
	"net/http"
	"strings"
)

// maxFoldedName bounds the header names a HeaderSet folds on the stack;
// a set holding a longer name folds such names on the heap.
const maxFoldedName = 128

// HeaderSet is a set of header names read as SameHeaderName reads them
// (in any case, '_' equal to '-', surrounding white space ignored), for
// removing or finding all of them in one pass over a header map rather
// than one pass per name. The zero value is an empty set.
type HeaderSet struct {
	names  map[string]struct{}
	maxLen int
}

// With returns a set holding s's names and names (s is not changed).
func (s HeaderSet) With(names ...string) HeaderSet {
	out := HeaderSet{names: make(map[string]struct{}, len(s.names)+len(names)), maxLen: s.maxLen}
	for n := range s.names {
		out.names[n] = struct{}{}
	}
	for _, n := range names {
		f := foldName(n)
		out.names[f] = struct{}{}
		out.maxLen = max(out.maxLen, len(f))
	}
	return out
}

// Has reports whether name is in the set.
func (s HeaderSet) Has(name string) bool {
	name = strings.TrimSpace(name)
	if len(name) > s.maxLen || len(s.names) == 0 {
		return false
	}
	if len(name) > maxFoldedName {
		_, ok := s.names[foldName(name)]
		return ok
	}
	var buf [maxFoldedName]byte
	for i := 0; i < len(name); i++ {
		buf[i] = fold(name[i])
	}
	_, ok := s.names[string(buf[:len(name)])] // no allocation for a lookup
	return ok
}

// Strip deletes from h every header whose name is in the set.
func (s HeaderSet) Strip(h http.Header) {
	if len(s.names) == 0 {
		return
	}
	for name := range h {
		if s.Has(name) {
			delete(h, name)
		}
	}
}

// foldName is name as the set keeps it: white space trimmed, lower case,
// '_' as '-'.
func foldName(name string) string {
	name = strings.TrimSpace(name)
	b := make([]byte, len(name))
	for i := 0; i < len(name); i++ {
		b[i] = fold(name[i])
	}
	return string(b)
}
