// Package audit defines the audit trail: one structured event per
// authorization decision and per security event, with a fixed set of
// fields that answer "who did what, when, from where, and was it
// allowed". Events never carry a token, cookie, key, secret or query
// string; the adapter writes them to Caddy's `portcullis.audit` logger.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Kind names an audit event.
type Kind string

// Audit event kinds.
const (
	KindDecision          Kind = "decision"
	KindLogin             Kind = "login"
	KindLoginFailed       Kind = "login_failed"
	KindLogout            Kind = "logout"
	KindSessionExpired    Kind = "session_expired"
	KindRefresh           Kind = "refresh"
	KindRefreshFailed     Kind = "refresh_failed"
	KindBackchannelLogout Kind = "backchannel_logout"
	KindAPIKeyCreated     Kind = "api_key_created"
	KindAPIKeyRevoked     Kind = "api_key_revoked"
	KindAPIKeyRotated     Kind = "api_key_rotated"
	KindRateLimited       Kind = "rate_limited"
	KindConfigLoaded      Kind = "config_loaded"
)

// Result is the outcome an event records.
type Result string

// Event results.
const (
	Allow Result = "allow"
	Deny  Result = "deny"
	// Info is for events that are not a decision (config_loaded, logout).
	Info Result = "info"
)

// Event is one audit record. Empty fields are omitted from the log.
type Event struct {
	// Kind of event.
	Kind Kind
	// Result of the decision.
	Result Result
	// Reason is machine-readable ("allowed", "invalid_credentials", "expired" …).
	Reason string
	// RequestID ties the event to the request, the error body and upstream logs.
	RequestID string
	// Subject of the principal, when authenticated.
	Subject string
	// AuthMethod is api_key, jwt or session.
	AuthMethod string
	// Issuer is the issuer that vouched for the subject (a JWT's `iss`,
	// a session's OpenID provider); subjects are unique per issuer only.
	Issuer string
	// KeyID is the API key id (not secret).
	KeyID string
	// SessionIDHash is SessionHash of the session id, never the id itself.
	SessionIDHash string
	// RequiredScopes are the scopes the request needed.
	RequiredScopes []string
	// GrantedScopes are the scopes the credential carried.
	GrantedScopes []string
	// Route names the protected route.
	Route string
	// Method is the HTTP method.
	Method string
	// Path is the request path, without the query string.
	Path string
	// ClientIP is the client address as Caddy determined it (trusted-proxy aware).
	ClientIP string
	// UserAgent of the client, truncated.
	UserAgent string
	// Zone is the rate-limit zone for rate_limited events.
	Zone string
	// RPCMethod is the MCP JSON-RPC method ("tools/call") on a route
	// that reads MCP calls; for a batch, the first call's.
	RPCMethod string
	// Tool is the tool name of a tools/call (never its arguments).
	Tool string
	// Calls is the number of JSON-RPC calls of a batch; 0 for one call.
	Calls int
	// UpstreamStatus is the status the next handler answered an allowed
	// request with; 0 when the request was not forwarded.
	UpstreamStatus int
	// UpstreamMS is how long the next handler took to answer (up to its
	// response headers, so a stream is logged when it starts), in
	// milliseconds.
	UpstreamMS int64
	// ClientID is the OAuth client of an authorization-server event (an
	// id or a metadata document URL, never a secret).
	ClientID string
	// Resource is the protected resource an authorization-server event
	// is about.
	Resource string
	// GrantIDHash is a hash of an authorization-server grant's id.
	GrantIDHash string
}

// maxUserAgent bounds the logged user agent, so a client cannot bloat logs.
const maxUserAgent = 256

// maxName bounds a logged JSON-RPC method or tool name.
const maxName = 128

// CleanName truncates a JSON-RPC method or tool name and drops control
// characters: the client chose it, so it is bounded like a user agent.
func CleanName(n string) string {
	if len(n) > maxName {
		n = n[:maxName]
	}
	return CleanUserAgent(n)
}

// CleanPath strips a query string or fragment from a request URI, so a
// token passed (wrongly) in a query never reaches the log.
func CleanPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	return p
}

// CleanUserAgent truncates a user agent and drops control characters.
func CleanUserAgent(ua string) string {
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	if !hasControl(ua) && utf8.ValidString(ua) {
		return ua // what strings.Map below returns, without decoding runes
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, ua)
}

// SessionHash returns a short, stable, non-reversible reference to a
// session id for logs: the first 16 hex digits of its SHA-256.
func SessionHash(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// hasControl reports whether s has a C0 control character or DEL (bytes
// that UTF-8 never uses inside a multi-byte sequence).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
