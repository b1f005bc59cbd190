package pages

import "strings"

// span is the content of an element, as byte offsets.
type span struct{ start, end int }

// styleElements returns the text of every <style> element of doc, in
// order.
func styleElements(doc string) ([]string, error) {
	spans, err := styleSpans(doc)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = doc[s.start:s.end]
	}
	return out, nil
}

// styleSpans finds the content of every <style> element of doc (a
// lexical scan: a <style> inside a comment counts too, which at worst
// allows a style that is not there).
func styleSpans(doc string) ([]span, *lintError) {
	lower := asciiLower(doc)
	var out []span
	for i := 0; ; {
		lt, gt := startTag(lower, "style", i)
		if lt < 0 {
			return out, nil
		}
		if gt < 0 {
			return nil, &lintError{lt, "a <style> tag is not closed with >"}
		}
		end := endTag(lower, "style", gt)
		if end < 0 {
			return nil, &lintError{lt, "a <style> element has no </style>"}
		}
		out = append(out, span{gt, end})
		i = end
	}
}

// startTag finds the next start tag <name …> in the lower-case document
// lower from offset i. It returns the offset of its "<" (-1 if there is
// none) and the offset just after its ">" (-1 if the tag is not closed).
func startTag(lower, name string, i int) (lt, gt int) {
	for {
		j := strings.Index(lower[i:], "<"+name)
		if j < 0 {
			return -1, -1
		}
		lt = i + j
		k := lt + 1 + len(name)
		if k < len(lower) && !tagNameEnd(lower[k]) {
			i = k // <styles>, <scripts>: another element
			continue
		}
		var quote byte
		for ; k < len(lower); k++ {
			switch c := lower[k]; {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return lt, k + 1
			}
		}
		return lt, -1
	}
}

// endTag returns the offset of the next end tag </name in lower from
// offset i, or -1.
func endTag(lower, name string, i int) int {
	for {
		j := strings.Index(lower[i:], "</"+name)
		if j < 0 {
			return -1
		}
		k := i + j + 2 + len(name)
		if k >= len(lower) || tagNameEnd(lower[k]) {
			return i + j
		}
		i = k
	}
}

// tagNameEnd reports whether c ends a tag name.
func tagNameEnd(c byte) bool {
	switch c {
	case '\t', '\n', '\f', '\r', ' ', '/', '>':
		return true
	}
	return false
}

// asciiLower lower-cases ASCII letters only, so offsets are unchanged.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
