package pages

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"slices"
)

// page is one validated template and the Content-Security-Policy that
// goes with it.
type page struct {
	file     string
	tmpl     *template.Template
	csp      string
	referrer string // the Referrer-Policy
}

// newPage parses and validates the template src of kind k, named file:
// lint, static <style> elements (hashed for the policy), and a
// successful execution with every sample, whose <style> elements must
// all be allowed by the policy.
func newPage(k kind, file, src string) (*page, error) {
	if err := lint(src); err != nil {
		return nil, err.in(file, src)
	}
	styles, _ := styleElements(src) // lint checked them
	var hashes []string
	for _, css := range styles {
		h, err := styleHash(css)
		if err != nil {
			return nil, fmt.Errorf("pages: %s: %w", file, err)
		}
		if !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	t, err := template.New(file).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	p := &page{file: file, tmpl: t, csp: policy(k, hashes), referrer: referrerPolicy(k)}
	for _, data := range samples[k] {
		body, err := p.execute(data)
		if err != nil {
			return nil, fmt.Errorf("pages: %s: executing with sample data: %w", file, err)
		}
		out, err := styleElements(string(body))
		if err != nil {
			return nil, fmt.Errorf("pages: %s: output: %w", file, err)
		}
		for _, css := range out {
			if !slices.Contains(hashes, hashSource(css)) {
				return nil, fmt.Errorf("pages: %s: a <style> element of the output does not match the template's; keep <style> contents static", file)
			}
		}
	}
	return p, nil
}

// execute renders the template with data.
func (p *page) execute(data any) ([]byte, error) {
	var b bytes.Buffer
	if err := p.tmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// header returns the response headers of the page, a new map each time.
func (p *page) header() http.Header {
	return http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {p.csp},
		"Referrer-Policy":         {p.referrer},
		"X-Content-Type-Options":  {"nosniff"},
	}
}

// referrerPolicy is no-referrer for every page but the sign-out form:
// under no-referrer browsers send `Origin: null` with the form's POST,
// and where they also send no Sec-Fetch-Site (plain http on a host name,
// older Safari) the logout's same-origin check could not pass.
// same-origin sends the origin to ourselves and nothing to anyone else.
func referrerPolicy(k kind) string {
	if k == signOut || k == connections || k == consent {
		return "same-origin"
	}
	return "no-referrer"
}
