package request

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
)

// URLOverrideHeaders are the headers with which some servers (IIS URL
// Rewrite, Symfony, Zend/Laminas) replace the request URL with one a
// client names, and the original-request headers of forward-auth
// conventions (nginx auth_request, Traefik) that some applications read
// as the request. They are always removed: the route was matched on the
// real path and method.
var URLOverrideHeaders = []string{"X-Original-Url", "X-Rewrite-Url", "X-Override-Url", "X-Original-Uri",
	"X-Original-Method", "X-Forwarded-Uri", "X-Forwarded-Method"}

// ErrTrailer is returned when a request declares a trailer that names a
// protected header.
var ErrTrailer = errors.New("the request declares a trailer the gateway does not accept")

// StripURLOverrides removes the URL-override headers.
func StripURLOverrides(h http.Header) {
	deleteAll(h, URLOverrideHeaders)
}

// StripHopByHop does what a proxy does with a client's hop-by-hop
// headers before the gateway adds its own: every header the Connection
// header nominates is removed, and Connection keeps only the tokens
// "close" and "upgrade" (so a nomination can never reach
// the proxy behind and make it drop a header the gateway set). Keep-Alive
// and Proxy-Connection are removed as the proxy would.
func StripHopByHop(h http.Header) {
	conn, ok := h["Connection"]
	if !ok {
		return
	}
	var kept []string
	for _, line := range conn {
		for tok := range strings.SplitSeq(line, ",") {
			tok = textproto.TrimString(tok)
			if tok == "" {
				continue
			}
			if lower := strings.ToLower(tok); lower == "close" || lower == "upgrade" {
				kept = append(kept, lower)
				continue
			}
			h.Del(tok)
		}
	}
	h.Del("Keep-Alive")
	h.Del("Proxy-Connection")
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// CheckTrailers refuses a request that declares (in its Trailer header)
// a trailer whose name the protect function claims, so a client cannot
// send a second, late copy of a header the gateway sets or removes.
func CheckTrailers(r *http.Request, protect func(name string) bool) error {
	for name := range r.Trailer {
		if protect(name) {
			return fmt.Errorf("%w (%s)", ErrTrailer, name)
		}
	}
	for _, line := range r.Header["Trailer"] {
		for tok := range strings.SplitSeq(line, ",") {
			if tok = textproto.TrimString(tok); tok != "" && protect(tok) {
				return fmt.Errorf("%w (%s)", ErrTrailer, tok)
			}
		}
	}
	return nil
}

// deleteAll removes every header named, in any case and with '_' for
// '-' (CGI and PHP read X_HTTP_METHOD and X-Http-Method alike).
func deleteAll(h http.Header, names []string) {
	for k := range h {
		for _, n := range names {
			if SameHeaderName(k, n) {
				delete(h, k)
				break
			}
		}
	}
}

// SameHeaderName reports whether two header names are the same to the
// most lenient reader: case-insensitive, with '_' equal to '-'.
func SameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if fold(a[i]) != fold(b[i]) {
			return false
		}
	}
	return true
}

func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// StripLateTrailers makes sure no trailer the protect function claims
// reaches the upstream even when the client sends it without declaring
// it: net/http merges every received trailer into the request's Trailer
// map when the body reaches EOF, and proxies copy that map on. When r
// declares trailers (the map exists), the body is wrapped so that, at
// EOF and before any reader above sees it, protected names are deleted.
// Without declared trailers the map stays nil for the handler chain and
// nothing is forwarded.
func StripLateTrailers(r *http.Request, protect func(name string) bool) {
	if r.Trailer == nil || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &trailerFilter{ReadCloser: r.Body, trailer: r.Trailer, protect: protect}
}

// trailerFilter deletes protected trailers when its body reaches EOF.
type trailerFilter struct {
	io.ReadCloser
	trailer http.Header
	protect func(string) bool
}

// Read reads the body; at EOF it removes protected trailers.
func (f *trailerFilter) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if err == io.EOF {
		for name := range f.trailer {
			if f.protect(name) {
				delete(f.trailer, name)
			}
		}
	}
	return n, err
}
