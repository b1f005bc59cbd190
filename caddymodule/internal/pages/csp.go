package pages

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"strings"
)

// policy returns the Content-Security-Policy of a page of kind k whose
// <style> elements have the given hashes: nothing but those styles and
// data: images; forms may submit to this origin on the chooser and the
// sign-out page, nowhere on the others.
func policy(k kind, styleHashes []string) string {
	var b strings.Builder
	b.WriteString("default-src 'none'")
	if len(styleHashes) > 0 {
		b.WriteString("; style-src ")
		b.WriteString(strings.Join(styleHashes, " "))
	}
	b.WriteString("; img-src data:; base-uri 'none'; frame-ancestors 'none'; form-action ")
	if k == chooser || k == signOut || k == connections || k == consent {
		b.WriteString("'self'")
	} else {
		b.WriteString("'none'")
	}
	return b.String()
}

// styleHash returns the CSP source that allows a <style> element with the
// static content css as html/template outputs it (it removes CSS
// comments, for one).
func styleHash(css string) (string, error) {
	t, err := template.New("style").Parse("<style>" + css + "</style>")
	if err != nil {
		return "", fmt.Errorf("a <style> element: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("a <style> element: %w", err)
	}
	out, err := styleElements(b.String())
	if err != nil || len(out) != 1 {
		return "", errors.New("a <style> element could not be hashed")
	}
	return hashSource(out[0]), nil
}

// hashSource returns "'sha256-…'" for the text of a <style> element.
// Browsers hash the text after the HTML parser has turned CRLF and CR
// into LF, so the same is done here.
func hashSource(css string) string {
	css = strings.ReplaceAll(css, "\r\n", "\n")
	css = strings.ReplaceAll(css, "\r", "\n")
	sum := sha256.Sum256([]byte(css))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
