package clientreg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// validClientIDURL checks a metadata document URL as the draft's §3
// requires: https (http only with allowHTTP), a host, a path other than
// "/", no "." or ".." segment, no fragment, no user information; a port
// and a query are allowed. Only RFC 3986 characters are accepted.
func validClientIDURL(id string, allowHTTP bool) error {
	bad := func(msg string) error {
		return newError(CodeInvalidClient, ReasonInvalidClientIDURL, msg, nil)
	}
	if len(id) > maxURILength || !plainURIChars(id) {
		return bad("client_id is not a valid URL")
	}
	u, err := url.Parse(id)
	if err != nil {
		return bad("client_id is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		return bad("a client_id URL must use https")
	case u.Host == "" || u.Hostname() == "":
		return bad("a client_id URL needs a host")
	case u.User != nil:
		return bad("a client_id URL must not hold user information")
	case strings.Contains(id, "#"):
		return bad("a client_id URL must not have a fragment")
	case u.Port() != "" && !validPort(u.Port()):
		return bad("a client_id URL has an invalid port")
	case u.EscapedPath() == "" || u.EscapedPath() == "/":
		return bad("a client_id URL must have a path")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return bad("a client_id URL must not have dot segments")
		}
	}
	return nil
}

// resolveDocument returns the client a metadata document describes, from
// the cache or fetched once however many callers ask at the same time.
// The fetch runs detached from ctx (bounded by FetchTimeout), so a caller
// that gives up does not fail the others or poison the cache.
func (r *Registry) resolveDocument(ctx context.Context, id string) (Client, error) {
	if err := validClientIDURL(id, r.opts.AllowHTTP); err != nil {
		return Client{}, err
	}
	if e, ok := r.cache.get(id, r.now()); ok {
		return e.client.clone(), e.err
	}
	f, leader := r.flights.join(id)
	if leader {
		select {
		case r.slots <- struct{}{}:
		default:
			// Too many fetches at once: refuse, and cache nothing.
			r.flights.finish(id, f, cacheEntry{err: newError(CodeTemporarilyUnavailable, ReasonFetchBusy,
				"too many client metadata documents are being fetched; try again", ErrUnavailable)})
			return Client{}, f.res.err
		}
		go func() {
			defer func() { <-r.slots }()
			res := r.fetchDocument(context.WithoutCancel(ctx), id)
			r.cache.put(id, res, r.now())
			r.flights.finish(id, f, res)
		}()
	}
	select {
	case <-f.done:
		return f.res.client.clone(), f.res.err
	case <-ctx.Done():
		return Client{}, newError(CodeTemporarilyUnavailable, ReasonTimeout,
			"the client's metadata document could not be fetched in time", fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err()))
	}
}

// fetchDocument fetches, reads and checks one document and returns the
// cache entry to keep: the client with its lifetime, or the error with the
// negative lifetime.
func (r *Registry) fetchDocument(ctx context.Context, id string) cacheEntry {
	now := r.now()
	c, ttl, err := r.fetch(ctx, id)
	if err != nil {
		return cacheEntry{err: err, expires: now.Add(r.opts.NegativeCacheTTL)}
	}
	c.IssuedAt = now
	return cacheEntry{client: c, expires: now.Add(ttl)}
}

// fetch does the HTTP exchange: GET, no redirects, 200 only, a JSON
// content type, at most MaxDocumentBytes read, all within FetchTimeout.
func (r *Registry) fetch(ctx context.Context, id string) (Client, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return Client{}, 0, newError(CodeInvalidClient, ReasonInvalidClientIDURL, "client_id is not a valid URL", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return Client{}, 0, transportError(err)
	}
	// Closing without draining: an endless body is not read further.
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Client{}, 0, newError(CodeInvalidClient, ReasonRedirect,
			"the client's metadata document URL redirects; redirects are not followed", nil)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Client{}, 0, newError(CodeTemporarilyUnavailable, ReasonStatus,
			"the client's metadata document could not be fetched", fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return Client{}, 0, newError(CodeInvalidClient, ReasonStatus,
			"the client's metadata document could not be fetched", fmt.Errorf("status %d", resp.StatusCode))
	}
	if !jsonContentType(resp.Header.Get("Content-Type")) {
		return Client{}, 0, newError(CodeInvalidClient, ReasonContentType,
			"the client's metadata document is not served as JSON", nil)
	}
	max := r.opts.MaxDocumentBytes
	tooLarge := newError(CodeInvalidClient, ReasonTooLarge,
		fmt.Sprintf("the client's metadata document is larger than %d bytes", max), nil)
	if resp.ContentLength > max {
		return Client{}, 0, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if ctx.Err() != nil {
		// Past the deadline, whatever the read returned is cut short
		// (a connection torn down by the timeout can read as a clean
		// end of a truncated body): a timeout, not a malformed document.
		return Client{}, 0, transportError(fmt.Errorf("reading the document: %w", ctx.Err()))
	}
	if err != nil {
		return Client{}, 0, transportError(err)
	}
	if int64(len(body)) > max {
		return Client{}, 0, tooLarge
	}
	c, err := parseDocument(id, body)
	if err != nil {
		return Client{}, 0, err
	}
	return c, r.cacheTTL(resp.Header.Values("Cache-Control")), nil
}

// transportError maps a failed exchange to an *Error: a refused address is
// the client's fault (invalid_client); a timeout or network failure may
// pass (temporarily_unavailable).
func transportError(err error) error {
	var addrErr *addressError
	if errors.As(err, &addrErr) {
		return newError(CodeInvalidClient, ReasonPrivateAddress,
			"the client's metadata document is on an address this server does not connect to", err)
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return newError(CodeTemporarilyUnavailable, ReasonTimeout,
			"the client's metadata document could not be fetched in time", fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	return newError(CodeTemporarilyUnavailable, ReasonFetchFailed,
		"the client's metadata document could not be fetched", fmt.Errorf("%w: %w", ErrUnavailable, err))
}

// jsonContentType accepts application/json and application/*+json, with
// any parameters.
func jsonContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || (strings.HasSuffix(sub, "+json") && len(sub) > len("+json")))
}

// cacheTTL reads max-age from Cache-Control, clamped to [MinCacheTTL,
// MaxCacheTTL]; no-store and no-cache give MinCacheTTL; none gives
// CacheTTL.
func (r *Registry) cacheTTL(values []string) time.Duration {
	ttl := r.opts.CacheTTL
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return MinCacheTTL
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					if n > int64(MaxCacheTTL/time.Second) {
						n = int64(MaxCacheTTL / time.Second)
					}
					ttl = time.Duration(n) * time.Second
				}
			}
		}
	}
	return min(max(ttl, MinCacheTTL), MaxCacheTTL)
}

// parseDocument reads a metadata document fetched from id and checks it
// as the draft requires: client_id equal to id (simple string
// comparison), redirect_uris, no symmetric secret (no client_secret,
// token_endpoint_auth_method none or private_key_jwt, the latter with
// keys). A missing token_endpoint_auth_method means none.
func parseDocument(id string, body []byte) (Client, error) {
	m, err := parseMetadata(body)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return Client{}, newError(CodeInvalidClient, ReasonInvalidMetadata, "the client's metadata document is invalid: "+fe.Error(), err)
		}
		return Client{}, newError(CodeInvalidClient, ReasonMalformed, "the client's metadata document is not a valid JSON object", err)
	}
	if m.clientID != id {
		return Client{}, newError(CodeInvalidClient, ReasonClientIDMismatch,
			"the client_id in the client's metadata document is not the document's URL", nil)
	}
	if m.hasSecret {
		return Client{}, newError(CodeInvalidClient, ReasonSymmetricSecret,
			"a client metadata document must not hold a client secret", nil)
	}
	switch m.tokenEndpointAuthMethod {
	case "":
		m.tokenEndpointAuthMethod = authNone
	case authNone:
	case authPrivateKeyJWT:
		if !m.hasKeys {
			return Client{}, newError(CodeInvalidClient, ReasonInvalidMetadata,
				"private_key_jwt needs jwks or jwks_uri in the client's metadata document", nil)
		}
	default:
		if strings.HasPrefix(m.tokenEndpointAuthMethod, "client_secret") {
			return Client{}, newError(CodeInvalidClient, ReasonSymmetricSecret,
				"a client metadata document must not use a client secret", nil)
		}
		return Client{}, newError(CodeInvalidClient, ReasonInvalidMetadata,
			"token_endpoint_auth_method must be none or private_key_jwt", nil)
	}
	if err := m.validate(); err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return Client{}, newError(CodeInvalidClient, ReasonInvalidRedirectURI, "the client's metadata document is invalid: "+re.Error(), err)
		}
		return Client{}, newError(CodeInvalidClient, ReasonInvalidMetadata, "the client's metadata document is invalid: "+err.Error(), err)
	}
	return m.client(id, KindMetadataDocument), nil
}

// client builds the Client m describes.
func (m *metadata) client(id string, kind Kind) Client {
	return Client{
		ID:                      id,
		Kind:                    kind,
		Name:                    m.clientName,
		URI:                     m.clientURI,
		LogoURI:                 m.logoURI,
		RedirectURIs:            m.redirectURIs,
		GrantTypes:              m.grantTypes,
		ResponseTypes:           m.responseTypes,
		TokenEndpointAuthMethod: m.tokenEndpointAuthMethod,
		Scope:                   m.scope,
	}
}
