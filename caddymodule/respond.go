package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/pages"
)

// errorBody is the JSON answer to a refused request. It never carries
// internal detail: a machine-readable code, a sentence for people, and
// the request id that finds the matching log line.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	RequestID        string `json:"request_id"`
}

// challenge describes a refusal as RFC 6750 section 3 expresses it.
type challenge struct {
	status      int
	code        string // error code; in WWW-Authenticate only if bearerErrorCode (see there)
	description string
	scopes      []string // for insufficient_scope: every scope the request needs
	// bare omits the error attributes from WWW-Authenticate, as RFC 6750
	// section 3.1 asks when the request carried no credential at all.
	bare bool
	// resourceMetadata is the RFC 9728 metadata URL of the resource.
	resourceMetadata string
	// retryAfter, when positive, is sent as Retry-After (whole seconds).
	retryAfter time.Duration
	// maxAge and acrValues describe a step-up (RFC 9470).
	maxAge    time.Duration
	acrValues []string
	// pages renders the HTML page (the operator's, or the defaults when
	// nil).
	pages *pages.Set
	// html answers with a page for people instead of JSON (a browser
	// navigation).
	html bool
}

// writeChallenge answers a refused request with the status, the
// WWW-Authenticate challenge and a JSON body.
func writeChallenge(w http.ResponseWriter, id, realm string, c challenge) {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteSafe(realm))
	b.WriteByte('"')
	if !c.bare && bearerErrorCode(c.code) {
		b.WriteString(`, error="`)
		b.WriteString(c.code)
		b.WriteByte('"')
		if c.description != "" {
			b.WriteString(`, error_description="`)
			b.WriteString(quoteSafe(c.description))
			b.WriteByte('"')
		}
	}
	if len(c.scopes) > 0 {
		b.WriteString(`, scope="`)
		b.WriteString(strings.Join(c.scopes, " "))
		b.WriteByte('"')
	}
	if c.maxAge > 0 {
		b.WriteString(`, max_age=`)
		b.WriteString(strconv.Itoa(int(c.maxAge.Seconds())))
	}
	if len(c.acrValues) > 0 {
		b.WriteString(`, acr_values="`)
		b.WriteString(quoteSafe(strings.Join(c.acrValues, " ")))
		b.WriteByte('"')
	}
	if c.resourceMetadata != "" {
		b.WriteString(`, resource_metadata="`)
		b.WriteString(quoteSafe(c.resourceMetadata))
		b.WriteByte('"')
	}
	h := w.Header()
	h.Set("WWW-Authenticate", b.String())
	if c.html {
		writeHTMLError(w, c.pages, id, c.status, c.description)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", id)
	if c.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(c.retryAfter)))
	}
	w.WriteHeader(c.status)
	code := c.code
	if c.bare {
		code = "unauthorized"
	}
	_ = json.NewEncoder(w).Encode(errorBody{Error: code, ErrorDescription: c.description, RequestID: id})
}

// bearerErrorCode reports whether code may be a challenge's error
// attribute: the codes RFC 6750 section 3.1 defines for resource servers
// (invalid_request, invalid_token, insufficient_scope) and RFC 9470's
// insufficient_user_authentication. Any other refusal (a claim the route
// requires, an origin it does not allow) is a 403 whose challenge carries
// no error attribute: insufficient_scope would tell a client to ask for
// more scopes, which cannot help; the JSON body keeps the precise code.
func bearerErrorCode(code string) bool {
	switch code {
	case "invalid_request", "invalid_token", "insufficient_scope", "insufficient_user_authentication":
		return true
	}
	return false
}

// quoteSafe removes the characters that would end or escape a quoted
// string in a header parameter.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// writeJSONError answers with a JSON error body and no challenge (for
// 404s and 503s of Portcullis's own endpoints).
func writeJSONError(w http.ResponseWriter, id string, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: code, ErrorDescription: desc, RequestID: id})
}

// writeHTMLError answers a browser with the error page (set's, or the
// built-in one): the status, a sentence and the request id, nothing
// internal.
func writeHTMLError(w http.ResponseWriter, set *pages.Set, id string, status int, desc string) {
	if set == nil {
		set = pages.Default()
	}
	page, err := set.Error(pages.ErrorData{Status: status, Message: desc, RequestID: id})
	if err != nil {
		// An operator's template that fails on this data: the built-in
		// page, which cannot.
		page, _ = pages.Default().Error(pages.ErrorData{Status: status, Message: desc, RequestID: id})
	}
	if w.Header().Get("X-Request-Id") == "" {
		w.Header().Set("X-Request-Id", id)
	}
	writePage(w, page)
}
