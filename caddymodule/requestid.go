package caddymodule

import (
	"crypto/rand"
	"encoding/base32"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// requestIDHeader carries the request id, in canonical form.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLength bounds an accepted incoming X-Request-Id.
const maxRequestIDLength = 128

// requestIDFor returns the id of this request: the one an earlier
// portcullis handler of the same request chose, else the incoming
// X-Request-Id when the request came through a trusted proxy (Caddy's
// `trusted_proxies`) and the value is well formed, else a new one. The
// id is also the `{http.auth.request_id}` placeholder, so access logs
// and header_up can carry it.
func requestIDFor(r *http.Request, repl *caddy.Replacer) string {
	return requestIDIn(requestVars(r), r, repl)
}

// requestIDIn is requestIDFor with the request's variables at hand.
func requestIDIn(vars map[string]any, r *http.Request, repl *caddy.Replacer) string {
	if id, ok := vars[requestIDVar].(string); ok {
		return id
	}
	id := ""
	if trusted, _ := vars[caddyhttp.TrustedProxyVarKey].(bool); trusted {
		if v := r.Header.Get(requestIDHeader); validRequestID(v) {
			id = v
		}
	}
	if id == "" {
		id = requestIDs.next()
	}
	if vars != nil {
		vars[requestIDVar] = id
	}
	// A provider rather than repl.Set: Set's first value allocates the
	// replacer's static map (hundreds of bytes per request). A value an
	// earlier handler set would answer first: the id we chose must win.
	repl.Delete(requestIDPlaceholder)
	repl.Map(func(key string) (any, bool) {
		if key == requestIDPlaceholder {
			return id, true
		}
		return nil, false
	})
	return id
}

// requestIDPlaceholder is the request id's placeholder (without braces).
const requestIDPlaceholder = "http.auth.request_id"

// requestIDVar is the request variable holding the request id, so every
// portcullis handler of a request uses one id.
const requestIDVar = "portcullis.request_id"

// idSource makes request ids: a random per-process prefix and a counter.
// Ids are unique, not secret, and cost no random read per request (a
// UUID from crypto/rand was a visible share of the gateway's CPU).
type idSource struct {
	prefix string
	n      atomic.Uint64
}

var requestIDs = newIDSource()

func newIDSource() *idSource {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return &idSource{prefix: base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])}
}

func (s *idSource) next() string {
	return s.prefix + "-" + strconv.FormatUint(s.n.Add(1), 36)
}

// validRequestID accepts 1 to maxRequestIDLength characters from
// [A-Za-z0-9._:-], so an id can go into headers, JSON and logs as is.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// requestVars returns the request's variables (caddyhttp.GetVar's map),
// read once per request rather than with a context lookup each; nil
// outside a Caddy server (reading a nil map is fine, writes are skipped).
func requestVars(r *http.Request) map[string]any {
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	return vars
}
