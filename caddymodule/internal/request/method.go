package request

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MethodOverrideHeaders are the headers with which frameworks (Rails,
// Laravel, Express method-override, Spring's HiddenHttpMethodFilter
// variants, ASP.NET, Google APIs) let a POST stand for another method.
var MethodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// MethodParam is the query or form parameter with which Rails
// (Rack::MethodOverride), Laravel and Symfony let a POST stand for
// another method.
const MethodParam = "_method"

// MaxFormBody bounds how much of a urlencoded form is read to look for
// MethodParam, in bytes.
const MaxFormBody = 1 << 20

// ErrMethodOverride is returned when a method override cannot be read
// one way: override headers or parameters that disagree or do not name a
// method, or a `_method` parameter on a route that does not allow
// overrides (a parameter cannot be removed without changing the body).
var ErrMethodOverride = errors.New("the method override is not accepted")

// Method returns the method the upstream will act on.
//
// Without allowOverride, override headers are removed and a `_method`
// parameter (in the query, or in a urlencoded POST form) is refused with
// ErrMethodOverride; the request's own method is returned. With it, on a
// POST every override present (headers and parameters) must name the
// same upper-case method, which is returned; on other methods override
// headers are removed and parameters are left to the upstream, which
// ignores them there.
func Method(r *http.Request, allowOverride bool) (string, error) {
	return method(r, allowOverride, false)
}

// method is Method; stripped says the override headers are gone already.
func method(r *http.Request, allowOverride, stripped bool) (string, error) {
	params, err := methodParams(r)
	if err != nil {
		return "", err
	}
	if !allowOverride || r.Method != http.MethodPost {
		if !stripped {
			deleteAll(r.Header, MethodOverrideHeaders)
		}
		if len(params) > 0 && !allowOverride {
			return "", fmt.Errorf("%w: a %s parameter needs allow_method_override", ErrMethodOverride, MethodParam)
		}
		return r.Method, nil
	}
	var values []string
	for name, vals := range r.Header {
		if isOverride(name) {
			values = append(values, vals...)
		}
	}
	method := r.Method
	for i, v := range append(values, params...) {
		v = strings.TrimSpace(v)
		if !isMethodToken(v) {
			return "", fmt.Errorf("%w: %q is not a method", ErrMethodOverride, v)
		}
		if i > 0 && v != method {
			return "", fmt.Errorf("%w: the overrides disagree", ErrMethodOverride)
		}
		method = v
	}
	return method, nil
}

// methodParams returns the values of every `_method` parameter of the
// query and, for a POST with a urlencoded body, of the form. Keys are
// compared after unescaping, in any case, with '&' and ';' both read as
// separators (Rack splits on both).
func methodParams(r *http.Request) ([]string, error) {
	vals := paramValues(r.URL.RawQuery)
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
		return vals, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return vals, nil
	}
	body, err := PeekBody(r, MaxFormBody)
	if err != nil {
		return nil, fmt.Errorf("%w: the form could not be checked for %s (%w)", ErrMethodOverride, MethodParam, err)
	}
	return append(vals, paramValues(string(body))...), nil
}

// paramValues returns the values of the `_method` keys of a query.
func paramValues(q string) []string {
	if !containsFold(q, "method") && !strings.Contains(q, "%") {
		return nil // no spelling of the key, escaped or not, can be there
	}
	var out []string
	for part := range strings.FieldsFuncSeq(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if !strings.EqualFold(strings.TrimSpace(k), MethodParam) {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out = append(out, v)
	}
	return out
}

// isOverride reports whether name is a method-override header.
func isOverride(name string) bool {
	for _, n := range MethodOverrideHeaders {
		if SameHeaderName(name, n) {
			return true
		}
	}
	return false
}

// isMethodToken accepts an upper-case HTTP method token.
func isMethodToken(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case, without allocating (it runs on every request's query).
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// MethodStripped is Method for a caller that has already removed every
// MethodOverrideHeaders name from r's headers when allowOverride is
// false (e.g. with a HeaderSet, in the same pass as other headers).
func MethodStripped(r *http.Request, allowOverride bool) (string, error) {
	return method(r, allowOverride, !allowOverride)
}
