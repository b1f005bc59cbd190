package pages

import (
	"fmt"
	"regexp"
	"strings"
)

// srcdocAttr finds a srcdoc attribute.
var srcdocAttr = regexp.MustCompile(`[\s"'/]srcdoc\s*=`)

// lintError is a problem found in a template's source, at a byte offset.
type lintError struct {
	off int
	msg string
}

// Error returns the message, without a position.
func (e *lintError) Error() string { return e.msg }

// in returns the error with the file name and line of the problem.
func (e *lintError) in(file, src string) error {
	return fmt.Errorf("pages: %s:%d: %s", file, 1+strings.Count(src[:e.off], "\n"), e.msg)
}

// lint refuses, in the source of a template, what cannot work under the
// pages' Content-Security-Policy and the places where html/template's
// escaping is not enough:
//
//   - <script> elements: the policy blocks every script;
//   - "javascript:" URLs: blocked by the policy, and html/template only
//     percent-encodes a value inside one, which the browser decodes
//     before running it;
//   - srcdoc attributes: html/template escapes them as plain attributes,
//     but their value is a whole HTML document;
//   - a <meta> tag with a template action, unless every action follows a
//     literal "url=" (a refresh: html/template then checks the value as
//     a URL; a content attribute that is an action as a whole, it does
//     not);
//   - a <style> element with a template action inside: the policy allows
//     styles by the hash of their content, which must be static.
func lint(src string) *lintError {
	lower := asciiLower(src)
	if lt, _ := startTag(lower, "script", 0); lt >= 0 {
		return &lintError{lt, "<script> elements are not allowed: the pages' Content-Security-Policy blocks every script"}
	}
	if i := strings.Index(lower, "javascript:"); i >= 0 {
		return &lintError{i, `"javascript:" URLs are not allowed: the pages' Content-Security-Policy blocks every script`}
	}
	if loc := srcdocAttr.FindStringIndex(lower); loc != nil {
		return &lintError{loc[0] + 1, "srcdoc attributes are not allowed: their value is an HTML document, which html/template does not escape as one"}
	}
	for i := 0; ; {
		lt, gt := startTag(lower, "meta", i)
		if lt < 0 {
			break
		}
		if gt < 0 {
			return &lintError{lt, "a <meta> tag is not closed with >"}
		}
		tag := lower[lt:gt]
		if a := strings.Index(tag, "{{"); a >= 0 {
			if u := strings.Index(tag, "url="); u < 0 || u > a {
				return &lintError{lt, `a <meta> tag has a template action: only the URL of a refresh may be dynamic, after a literal "url="`}
			}
		}
		i = gt
	}
	spans, err := styleSpans(src)
	if err != nil {
		return err
	}
	for _, s := range spans {
		if i := strings.Index(src[s.start:s.end], "{{"); i >= 0 {
			return &lintError{s.start + i, "a <style> element contains a template action: its content must be static, since the Content-Security-Policy allows it by hash"}
		}
	}
	return nil
}
