// Package credential finds the credential a request presents: a bearer
// token in the Authorization header or an API key in its own header.
// Tokens are never read from the query string.
package credential

import (
	"errors"
	"net/http"
	"strings"
)

// Kind says what a presented credential looks like.
type Kind int

// Credential kinds.
const (
	// None means the request presented no credential.
	None Kind = iota
	// APIKey is a Portcullis API key (from Authorization: Bearer or the API-key header).
	APIKey
	// Bearer is any other bearer token (a JWT).
	Bearer
)

// DefaultMaxLength bounds a presented credential, in bytes.
const DefaultMaxLength = 8192

// Errors for malformed presentations. Their text is safe to show.
var (
	// ErrMultiple means more than one credential was presented
	// (RFC 6750 section 2: clients MUST NOT use more than one method).
	ErrMultiple = errors.New("more than one credential was presented")
	// ErrMalformed means an Authorization bearer header was not of the form "Bearer <token>".
	ErrMalformed = errors.New("the Authorization header is not a well-formed bearer credential")
	// ErrKeyHeader means an API key came in the X-API-Key header on a
	// gateway that accepts keys only in the Authorization header.
	ErrKeyHeader = errors.New("API keys are accepted only in the Authorization header (Bearer), not in X-API-Key")
	// ErrTooLong means the credential exceeds the configured maximum size.
	ErrTooLong = errors.New("the credential is too long")
)

// Credential is what a request presented.
type Credential struct {
	// Kind classifies Value.
	Kind Kind
	// Value is the secret itself: never log it.
	Value string
	// Header is the header it came from, so it can be removed before
	// the request is forwarded.
	Header string
}

// Extractor finds credentials in requests. Its zero value is not
// usable; fill every field.
type Extractor struct {
	// APIKeyHeader is a header that may carry an API key besides
	// Authorization; empty for none (then a key in X-API-Key is refused
	// with ErrKeyHeader rather than ignored).
	APIKeyHeader string
	// APIKeyPrefix tells API keys from other bearer tokens.
	APIKeyPrefix string
	// MaxLength bounds a credential in bytes.
	MaxLength int
}

// Extract returns the single credential r presents. An Authorization
// header with another scheme (Basic, …) is not ours and is ignored.
func (e Extractor) Extract(r *http.Request) (Credential, error) {
	// Runs on every request: count instead of collecting, so that the
	// usual single credential costs no allocation.
	var found Credential
	n := 0
	for _, v := range r.Header["Authorization"] { // the canonical name: no canonicalizing per request
		scheme, token, _ := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		token = strings.TrimSpace(token)
		// Two vectorised byte searches, not ContainsAny's loop over every
		// byte of what may be an 800-byte token.
		if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
			return Credential{}, ErrMalformed
		}
		if n++; n == 1 {
			found = Credential{Kind: e.classify(token), Value: token, Header: "Authorization"}
		}
	}
	if e.APIKeyHeader == "" {
		if _, ok := r.Header[defaultKeyHeader]; ok {
			return Credential{}, ErrKeyHeader
		}
	} else {
		for _, v := range r.Header.Values(e.APIKeyHeader) {
			if n++; n == 1 {
				found = Credential{Kind: APIKey, Value: strings.TrimSpace(v), Header: e.APIKeyHeader}
			}
		}
	}
	switch {
	case n == 0:
		return Credential{}, nil
	case n > 1:
		return Credential{}, ErrMultiple
	case len(found.Value) > e.MaxLength:
		return Credential{}, ErrTooLong
	}
	return found, nil
}

// defaultKeyHeader is the header clients most often send keys in, in
// canonical form.
const defaultKeyHeader = "X-Api-Key"

func (e Extractor) classify(token string) Kind {
	p := e.APIKeyPrefix
	if len(token) > len(p) && token[len(p)] == '_' && token[:len(p)] == p {
		return APIKey
	}
	return Bearer
}
