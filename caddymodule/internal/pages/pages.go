// Package pages renders the HTML pages the gateway shows to people: the
// identity-provider chooser, the landing page after a login, the
// sign-out form, the page that continues to the identity provider, and
// the error page. Each comes from an html/template: built-in defaults
// (embedded, no script, one small <style>), any of which an operator may
// replace with a file of the same name in a directory (Load).
//
// Safety does not depend on the templates being careful:
//
//   - Every value a page shows is a plain string, bool or int (never
//     template.HTML, template.URL or another trusted type), and no
//     template function that makes one is available, so html/template
//     escapes every value for its context: text, attribute, URL (where
//     "javascript:" and other unsafe schemes become "#ZgotmplZ"),
//     JavaScript or CSS. An operator template cannot output request data
//     as raw HTML.
//   - Every page carries a strict Content-Security-Policy: no script at
//     all, styles only from the <style> elements written in the template
//     (allowed by their SHA-256 hashes, computed at load), images only as
//     data: URLs, no framing, no <base>, forms only to this origin (and
//     no forms at all on the pages that need none). Never
//     'unsafe-inline'.
//   - Load refuses what could not work under that policy rather than let
//     it fail silently in a browser (<script> elements, "javascript:"
//     URLs, <style> elements whose content holds a template action, since
//     their hash would change with the data), and the two places where
//     html/template's escaping falls short (srcdoc attributes, and a
//     <meta> whose content is an action rather than a refresh URL after
//     a literal "url="). Style attributes and inline event handlers are
//     not refused, but the policy blocks them: put CSS in a <style>
//     element.
//   - URLs a page navigates to (landing, provider redirect, form
//     actions, provider links) are checked in Go as well: a path on this
//     origin or an absolute http(s) URL, nothing else.
//
// Each template is executed with sample data at load, so a template that
// does not parse, refers to a field that does not exist or breaks the
// escaper fails at load with its file name.
//
// The package is plain Go (no Caddy, no zap). Errors start with
// "pages: ".
package pages

import (
	"embed"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Page is a small HTML response the adapter writes as is: status, then
// headers, then body (the same shape as oidcflow.Page).
type Page struct {
	// Status is the HTTP status code.
	Status int
	// Header are the response headers: content type, no-store caching, no
	// referrer, nosniff and the page's Content-Security-Policy. Each Page
	// has its own map; the caller may add to it.
	Header http.Header
	// Body is the HTML document.
	Body []byte
}

// The template file names, in a directory given to Load.
const (
	// ChooserFile is the identity-provider chooser; it sees ChooserData.
	ChooserFile = "chooser.html"
	// LandingFile continues the navigation after a login; it sees
	// LandingData.
	LandingFile = "landing.html"
	// SignOutFile is the sign-out form; it sees SignOutData.
	SignOutFile = "signout.html"
	// RedirectFile continues to the identity provider; it sees
	// RedirectData.
	RedirectFile = "redirect.html"
	// ErrorFile is the error page for browsers; it sees ErrorData.
	ErrorFile = "error.html"
)

// kind indexes the pages of a Set.
type kind int

const (
	chooser kind = iota
	landing
	signOut
	redirect
	errorPage
	connections
	consent
	numKinds
)

// files are the template file names by kind.
var files = [numKinds]string{ChooserFile, LandingFile, SignOutFile, RedirectFile, ErrorFile, ConnectionsFile, ConsentFile}

// maxTemplateSize bounds a template file, in bytes.
const maxTemplateSize = 1 << 20

//go:embed templates/*.html
var embedded embed.FS

// Set is a validated set of the five page templates. It is immutable and
// safe for concurrent use.
type Set struct {
	pages  [numKinds]*page
	custom []string // file names loaded from the operator's directory
}

// Default returns the built-in pages (the files under templates/ in this
// package, which are also the starting point for an operator's own).
func Default() *Set {
	return defaultSet()
}

// defaultSet parses the embedded templates once; they are part of the
// program, so a failure is a bug.
var defaultSet = sync.OnceValue(func() *Set {
	s := &Set{}
	for k, name := range files {
		src, err := embedded.ReadFile("templates/" + name)
		if err != nil {
			panic("pages: embedded template missing: " + name)
		}
		p, err := newPage(kind(k), name, string(src))
		if err != nil {
			panic(err.Error())
		}
		s.pages[k] = p
	}
	return s
})

// Load returns the pages with any of chooser.html, landing.html,
// signout.html, redirect.html and error.html found in dir in place of the
// built-in ones; a file that is absent keeps the default. Any other
// file or directory is refused, so that a misspelt name is noticed,
// except names starting with "." (hidden files, and the "..data"
// entries of a Kubernetes ConfigMap volume), which are ignored.
//
// Each file is parsed as an html/template, checked as the package
// documentation describes, and executed with sample data; an error names
// the file (and the line, where known). Load reads the files once: a
// change takes effect at the next config load.
func Load(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pages: reading template directory: %w", err)
	}
	s := &Set{pages: Default().pages}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		k := slices.Index(files[:], name)
		if k < 0 {
			return nil, fmt.Errorf("pages: %s: unknown template name (expected %s)", filepath.Join(dir, name), strings.Join(files[:], ", "))
		}
		src, err := readTemplate(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		p, err := newPage(kind(k), name, src)
		if err != nil {
			return nil, err
		}
		s.pages[k] = p
		s.custom = append(s.custom, name)
	}
	return s, nil
}

// readTemplate reads a regular file of at most maxTemplateSize bytes
// (following symbolic links, as ConfigMap volumes use them).
func readTemplate(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("pages: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("pages: %s: not a regular file", path)
	}
	if fi.Size() > maxTemplateSize {
		return "", fmt.Errorf("pages: %s: larger than %d bytes", path, maxTemplateSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("pages: %w", err)
	}
	return string(b), nil
}

// Custom returns the names of the templates that came from the
// operator's directory (for the log at provision); nil for Default.
func (s *Set) Custom() []string {
	return slices.Clone(s.custom)
}
