package oidcprovider

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// TokenRequestSeen is one request the token endpoint received, as the
// provider read it: never a token, only fingerprints.
type TokenRequestSeen struct {
	// GrantType is the grant_type parameter.
	GrantType GrantType
	// ClientID is the client that authenticated (Basic) or named itself
	// (client_id).
	ClientID string
	// RefreshTokenHash is TokenFingerprint of the refresh_token
	// parameter of a refresh_token grant; empty otherwise.
	RefreshTokenHash string
	// Status is the HTTP status the provider answered.
	Status int
}

// tokenRequestLog keeps the token endpoint's requests in order.
type tokenRequestLog struct {
	mu  sync.Mutex
	all []TokenRequestSeen
}

// maxTokenRequestBody bounds what the log reads of a request body.
const maxTokenRequestBody = 64 << 10

// withTokenLog wraps the token endpoint: it reads the form (and puts
// the body back for next) and logs the request with next's status.
func (p *Provider) withTokenLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxTokenRequestBody))
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		form, _ := url.ParseQuery(string(body))
		seen := TokenRequestSeen{GrantType: GrantType(form.Get("grant_type")), ClientID: form.Get("client_id")}
		if id, _, ok := r.BasicAuth(); ok {
			if u, err := url.QueryUnescape(id); err == nil {
				seen.ClientID = u
			}
		}
		if rt := form.Get("refresh_token"); rt != "" && seen.GrantType == GrantRefreshToken {
			seen.RefreshTokenHash = TokenFingerprint(rt)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		seen.Status = sw.status
		p.tokenLog.mu.Lock()
		p.tokenLog.all = append(p.tokenLog.all, seen)
		p.tokenLog.mu.Unlock()
	})
}

// TokenRequests returns every request the token endpoint received,
// oldest first.
func (p *Provider) TokenRequests() []TokenRequestSeen {
	p.tokenLog.mu.Lock()
	defer p.tokenLog.mu.Unlock()
	return append([]TokenRequestSeen(nil), p.tokenLog.all...)
}
