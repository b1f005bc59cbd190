package oidcprovider

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// AuthRequestSeen is the record of one request to the authorization
// endpoint, as the provider received it.
type AuthRequestSeen struct {
	// ID is the auth request's ID at the provider (the login page's
	// authRequestID); empty when the provider refused the request before
	// storing it (unknown client, bad redirect_uri, no PKCE, ...).
	ID string
	// ClientID is the client_id parameter.
	ClientID string
	// Prompt is the prompt parameter, split at spaces.
	Prompt []string
	// Scopes is the scope parameter as requested, split at spaces.
	Scopes []string
	// GrantedScopes are the scopes the provider kept: without scopes the
	// client may not request and, in the strict profile, without
	// offline_access unless prompt contains consent. Nil when ID is empty.
	GrantedScopes []string
	// MaxAge is the max_age parameter; nil when absent or not a number.
	MaxAge *uint
	// ACRValues is the acr_values parameter, split at spaces.
	ACRValues []string
	// Claims is the raw claims parameter (a JSON object, OpenID Connect
	// Core 1.0 §5.5); nil when absent.
	Claims json.RawMessage
	// LoginHint is the login_hint parameter.
	LoginHint string
	// Extra holds every parameter of the request (query and form), as
	// received.
	Extra url.Values
}

// clone returns a deep copy.
func (a AuthRequestSeen) clone() AuthRequestSeen {
	a.Prompt = slices.Clone(a.Prompt)
	a.Scopes = slices.Clone(a.Scopes)
	a.GrantedScopes = slices.Clone(a.GrantedScopes)
	a.ACRValues = slices.Clone(a.ACRValues)
	a.Claims = slices.Clone(a.Claims)
	if a.MaxAge != nil {
		m := *a.MaxAge
		a.MaxAge = &m
	}
	a.Extra = maps.Clone(a.Extra)
	for k, v := range a.Extra {
		a.Extra[k] = slices.Clone(v)
	}
	return a
}

// seenFromForm reads the record of an authorization request from its
// parameters.
func seenFromForm(form url.Values) AuthRequestSeen {
	seen := AuthRequestSeen{
		ClientID:  form.Get("client_id"),
		Prompt:    strings.Fields(form.Get("prompt")),
		Scopes:    strings.Fields(form.Get("scope")),
		ACRValues: strings.Fields(form.Get("acr_values")),
		LoginHint: form.Get("login_hint"),
		Extra:     form,
	}
	if v, err := strconv.ParseUint(form.Get("max_age"), 10, 0); err == nil {
		m := uint(v)
		seen.MaxAge = &m
	}
	if form.Has("claims") {
		seen.Claims = json.RawMessage(form.Get("claims"))
	}
	return seen.clone()
}

// authRequestLog keeps the authorization requests in order.
type authRequestLog struct {
	mu  sync.Mutex
	all []AuthRequestSeen
}

// add records a request and returns its index.
func (l *authRequestLog) add(a AuthRequestSeen) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, a)
	return len(l.all) - 1
}

// stored records the auth request ID and granted scopes of entry i.
func (l *authRequestLog) stored(i int, id string, granted []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all[i].ID = id
	l.all[i].GrantedScopes = slices.Clone(granted)
}

// list returns deep copies of the records.
func (l *authRequestLog) list() []AuthRequestSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]AuthRequestSeen, 0, len(l.all))
	for _, a := range l.all {
		out = append(out, a.clone())
	}
	return out
}

// authCapture carries an authorization request's raw parameters into the
// storage, which the op package's oidc.AuthRequest does not all keep (it
// drops claims and turns prompt=login into max_age=0).
type authCapture struct {
	index int
	form  url.Values
}

type authCaptureKey struct{}

// captured returns the capture of the authorization request of ctx.
func captured(ctx context.Context) (*authCapture, bool) {
	c, ok := ctx.Value(authCaptureKey{}).(*authCapture)
	return c, ok
}

// withAuthRequestLog wraps the authorization endpoint: it records every
// request and hands its parameters to the storage.
func (p *Provider) withAuthRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			c := &authCapture{form: r.Form}
			c.index = p.store.authLog.add(seenFromForm(r.Form))
			r = r.WithContext(context.WithValue(r.Context(), authCaptureKey{}, c))
		}
		next.ServeHTTP(w, r)
	})
}

// claimsRequest is the claims parameter (OpenID Connect Core 1.0 §5.5);
// only the names of the requested claims matter to the provider.
type claimsRequest struct {
	IDToken  map[string]json.RawMessage `json:"id_token"`
	UserInfo map[string]json.RawMessage `json:"userinfo"`
}

// parseClaimsRequest decodes a claims parameter.
func parseClaimsRequest(raw string) (claimsRequest, error) {
	var cr claimsRequest
	if err := json.Unmarshal([]byte(raw), &cr); err != nil {
		return claimsRequest{}, oidc.ErrInvalidRequest().WithDescription("the claims parameter is not a valid JSON object")
	}
	return cr, nil
}

// AuthRequests returns every request the authorization endpoint received,
// oldest first.
func (p *Provider) AuthRequests() []AuthRequestSeen { return p.store.authLog.list() }
