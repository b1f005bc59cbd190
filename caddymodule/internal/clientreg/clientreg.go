// Package clientreg tells the authorization server which OAuth clients
// exist: clients identified by an OAuth Client ID Metadata Document
// (draft-ietf-oauth-client-id-metadata-document: the client_id is an https
// URL whose document is fetched, SSRF-safe, and cached) and clients
// registered with RFC 7591 dynamic client registration (kept in the store,
// with a lifetime refreshed on use). It also matches redirect URIs exactly
// (RFC 8252 §7.3 loopback port exception only) and authenticates
// confidential dynamic clients.
//
// The package is plain Go: it imports no Caddy or zap. Client names and URIs
// come from the client and are untrusted text: they are kept verbatim and
// whoever renders them must escape them.
package clientreg

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Defaults for the zero values of Options, and the bounds of the cache
// lifetime of a document (MinCacheTTL, MaxCacheTTL) and of concurrent
// fetches (MaxConcurrentFetches: beyond it a resolution that needs a fetch
// fails with ErrUnavailable rather than queue, so a flood of distinct
// client ids cannot tie up the server).
const (
	DefaultMaxDocumentBytes     = 5120
	DefaultFetchTimeout         = 5 * time.Second
	DefaultCacheTTL             = 10 * time.Minute
	MinCacheTTL                 = time.Minute
	MaxCacheTTL                 = 24 * time.Hour
	DefaultNegativeCacheTTL     = 30 * time.Second
	DefaultMaxCacheEntries      = 1000
	DefaultRegistrationLifetime = 30 * 24 * time.Hour
	DefaultKeyPrefix            = "pcl"
	MaxConcurrentFetches        = 32
)

// Kind says how a client became known.
type Kind string

const (
	// KindMetadataDocument: client_id is an https URL (OAuth Client ID
	// Metadata Document draft).
	KindMetadataDocument Kind = "metadata_document"
	// KindDynamic: RFC 7591 dynamic registration.
	KindDynamic Kind = "dynamic"
)

// Client is a client the authorization server may serve. Name, URI and
// LogoURI are UNTRUSTED text from the client, kept verbatim: escape them
// when rendering, never follow or embed them without care.
type Client struct {
	// ID is the client_id: the document URL or the issued id.
	ID string
	// Kind says how the client became known.
	Kind Kind
	// Name is client_name (untrusted).
	Name string
	// URI is client_uri (untrusted).
	URI string
	// LogoURI is logo_uri (untrusted).
	LogoURI string
	// RedirectURIs are the registered redirect URIs, never empty.
	RedirectURIs []string
	// GrantTypes defaults to ["authorization_code"].
	GrantTypes []string
	// ResponseTypes defaults to ["code"].
	ResponseTypes []string
	// TokenEndpointAuthMethod is "none" (public client, PKCE),
	// "client_secret_basic" or "client_secret_post" (dynamic clients only)
	// or "private_key_jwt" (metadata documents only; Authenticate does not
	// support it yet).
	TokenEndpointAuthMethod string
	// Scope is the optional space-separated scope the client asked for.
	Scope string
	// IssuedAt is when the client was registered (dynamic) or its document
	// fetched (metadata document).
	IssuedAt time.Time
}

// clone returns a deep copy of c, so a cached client cannot be changed
// through a returned one.
func (c Client) clone() Client {
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	c.GrantTypes = append([]string(nil), c.GrantTypes...)
	c.ResponseTypes = append([]string(nil), c.ResponseTypes...)
	return c
}

// Options configures a Registry. Zero values give the defaults named on
// each field.
type Options struct {
	// Store holds dynamic registrations (each with a TTL). Required when
	// DynamicRegistration is on.
	Store store.Store
	// KeyPrefix prefixes store keys. Default: DefaultKeyPrefix ("pcl").
	KeyPrefix string
	// HTTPClient fetches metadata documents. Default (nil): a hardened
	// client. Its transport must be an *http.Transport (its TLS settings are
	// kept); the Registry uses a copy whose dialer refuses private
	// addresses, with no proxy, no cookie jar, no redirects and
	// FetchTimeout.
	HTTPClient *http.Client
	// AllowPrivateAddresses permits loopback and private targets. Tests
	// only: it MUST NOT be set in production.
	AllowPrivateAddresses bool
	// AllowHTTP permits http:// client ids. Tests only.
	AllowHTTP bool
	// MaxDocumentBytes bounds a metadata document, in bytes: reading stops
	// there and a longer document is refused. Default: 5120.
	MaxDocumentBytes int64
	// FetchTimeout bounds one document fetch (connect, headers and body).
	// Default: 5s.
	FetchTimeout time.Duration
	// CacheTTL is how long a fetched document is used when its response
	// has no Cache-Control max-age. A max-age is honoured within [1m, 24h]
	// (no-store and no-cache count as 1m). Default: 10m.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long a failed resolution is remembered, so a
	// bad or slow document is not fetched on every request. Default: 30s.
	NegativeCacheTTL time.Duration
	// MaxCacheEntries bounds the document cache (entries). Default: 1000.
	MaxCacheEntries int
	// DynamicRegistration turns RFC 7591 registration on. Default: off.
	DynamicRegistration bool
	// MetadataDocuments turns Client ID Metadata Documents on. Default: off.
	MetadataDocuments bool
	// RegistrationLifetime is how long a dynamic registration lives unused;
	// every Resolve restarts it. Default: 30 days.
	RegistrationLifetime time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Registry resolves, registers and authenticates clients. It is safe for
// concurrent use.
type Registry struct {
	opts   Options
	now    func() time.Time
	client *http.Client

	cache   *cache
	flights flightGroup
	// slots holds a token per fetch in progress (MaxConcurrentFetches).
	slots chan struct{}
}

// New checks o, fills in defaults and returns a Registry. It does no
// network I/O.
func New(o Options) (*Registry, error) {
	if o.MaxDocumentBytes == 0 {
		o.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.NegativeCacheTTL == 0 {
		o.NegativeCacheTTL = DefaultNegativeCacheTTL
	}
	if o.MaxCacheEntries == 0 {
		o.MaxCacheEntries = DefaultMaxCacheEntries
	}
	if o.RegistrationLifetime == 0 {
		o.RegistrationLifetime = DefaultRegistrationLifetime
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	switch {
	case o.MaxDocumentBytes < 0:
		return nil, fmt.Errorf("clientreg: max document bytes must be positive (got %d)", o.MaxDocumentBytes)
	case o.FetchTimeout < 0:
		return nil, fmt.Errorf("clientreg: fetch timeout must be positive (got %v)", o.FetchTimeout)
	case o.CacheTTL < 0 || o.NegativeCacheTTL < 0:
		return nil, fmt.Errorf("clientreg: cache ttl must be positive")
	case o.MaxCacheEntries < 0:
		return nil, fmt.Errorf("clientreg: max cache entries must be positive (got %d)", o.MaxCacheEntries)
	case o.RegistrationLifetime < 0:
		return nil, fmt.Errorf("clientreg: registration lifetime must be positive (got %v)", o.RegistrationLifetime)
	case o.DynamicRegistration && o.Store == nil:
		return nil, fmt.Errorf("clientreg: dynamic registration needs a store")
	case strings.ContainsAny(o.KeyPrefix, "{}"):
		return nil, fmt.Errorf("clientreg: key prefix %q must not contain braces", o.KeyPrefix)
	}
	r := &Registry{opts: o, now: o.Now}
	if r.now == nil {
		r.now = time.Now
	}
	client, err := hardenClient(o.HTTPClient, o.FetchTimeout, o.AllowPrivateAddresses)
	if err != nil {
		return nil, err
	}
	r.client = client
	r.cache = newCache(o.MaxCacheEntries)
	r.slots = make(chan struct{}, MaxConcurrentFetches)
	return r, nil
}

// Resolve finds a client: a URL-shaped id (one starting with "https://",
// or "http://" with AllowHTTP) is fetched as a metadata document (cached);
// any other id is looked up among dynamic registrations, whose lifetime
// it restarts (none resolve while DynamicRegistration is off). Errors are *Error; errors.Is(err, ErrUnknownClient) for an
// id that names nothing, errors.Is(err, ErrUnavailable) when a dependency
// failed.
func (r *Registry) Resolve(ctx context.Context, clientID string) (Client, error) {
	if isURLClientID(clientID) {
		if !r.opts.MetadataDocuments {
			return Client{}, newError(CodeInvalidClient, ReasonDocumentsDisabled,
				"client metadata documents are not accepted by this server", ErrUnknownClient)
		}
		return r.resolveDocument(ctx, clientID)
	}
	return r.resolveDynamic(ctx, clientID)
}

// isURLClientID reports whether id is to be read as a metadata document
// URL: it has an URL scheme.
func isURLClientID(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}
