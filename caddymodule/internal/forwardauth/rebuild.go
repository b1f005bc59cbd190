package forwardauth

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
)

// framingHeaders describe the check request's body, not the original's
// (which the gateway never receives).
var framingHeaders = []string{"Content-Length", "Transfer-Encoding", "Trailer"}

// Rebuild returns the original request as the gateway would have
// received it, for the same pipeline as a request it serves itself: the
// check request's context and headers (the client's headers, as the
// proxy passed them on; MetaHeaders and the check request's framing
// left out), the original method, target (parsed as a server parses a
// request line, escapes kept) and Host, TLS state set for https (only
// its presence is meaningful), and no body.
//
// The check request is not changed.
func (o Request) Rebuild(check *http.Request) (*http.Request, error) {
	u, err := url.ParseRequestURI(o.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: the request target does not parse", ErrDescription)
	}
	r := check.Clone(check.Context())
	r.Method = o.Method
	r.URL = u
	r.RequestURI = o.URI
	r.Host = o.Host
	r.TLS = nil
	if o.Scheme == "https" {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}
	r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
	r.TransferEncoding, r.Trailer = nil, nil
	r.Form, r.PostForm, r.MultipartForm = nil, nil, nil
	for _, n := range MetaHeaders {
		delete(r.Header, n)
	}
	for _, n := range framingHeaders {
		delete(r.Header, n)
	}
	return r, nil
}
