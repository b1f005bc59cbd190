package jwtauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Defaults applied to a zero Options field.
const (
	// DefaultFetchTimeout bounds each discovery or JWKS request.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds a discovery or JWKS response body.
	DefaultMaxResponseBytes = 1 << 20
	// DefaultRefreshInterval is how long a key set is fresh when the
	// response carries no Cache-Control max-age.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultMinRefreshInterval is the lower clamp of a max-age.
	DefaultMinRefreshInterval = time.Minute
	// DefaultMaxRefreshInterval is the upper clamp of a max-age.
	DefaultMaxRefreshInterval = 24 * time.Hour
	// DefaultUnknownKeyCooldown is the least time between two refetches
	// caused by an unknown `kid` for one issuer: a flood of forged kids
	// costs the IdP at most one request per issuer per cooldown, while a
	// token signed with a key newer than the cached set waits at most
	// this long (plus one fetch) for the refetch that finds its key.
	DefaultUnknownKeyCooldown = 5 * time.Second
	// DefaultMaxTokenBytes is the largest token accepted; larger ones are
	// refused before any decoding.
	DefaultMaxTokenBytes = 8 << 10
	// DefaultCacheSize is the number of verified tokens remembered.
	DefaultCacheSize = 10000
)

// Fetch backoff: after n consecutive failed fetches for an issuer, no new
// fetch starts for min(backoffMin<<(n-1), backoffMax).
const (
	backoffMin = time.Second
	backoffMax = time.Minute
)

// Options configures a Verifier. The zero value of each optional field
// means its documented default.
type Options struct {
	// Issuers are the trusted issuers; at least one, each Issuer once.
	Issuers []Config
	// HTTPClient fetches discovery documents and key sets. Default: a
	// client on http.DefaultTransport. Each request is bounded by
	// FetchTimeout whatever the client's own timeout.
	HTTPClient *http.Client
	// Now is the clock for claim times, cache expiry and refresh
	// schedules. Default: time.Now.
	Now func() time.Time
	// After is the timer of the Now clock: a channel that receives once d
	// has passed. A token whose key is not cached waits with it for the
	// next allowed refetch. Default: time.After.
	After func(d time.Duration) <-chan time.Time
	// FetchTimeout bounds each HTTP request. Default: 5 s.
	FetchTimeout time.Duration
	// MaxResponseBytes bounds each response body; a larger one fails the
	// fetch. Default: 1 MiB.
	MaxResponseBytes int64
	// RefreshInterval is how long fetched keys are fresh when the response
	// has no Cache-Control max-age. Stale keys keep verifying while one
	// background refresh runs. Default: 15 min.
	RefreshInterval time.Duration
	// MinRefreshInterval and MaxRefreshInterval clamp a Cache-Control
	// max-age (no-store and no-cache count as 0). Defaults: 1 min, 24 h.
	MinRefreshInterval time.Duration
	// MaxRefreshInterval: see MinRefreshInterval.
	MaxRefreshInterval time.Duration
	// UnknownKeyCooldown is the least time between two refetches caused by
	// a token whose key is not in the cached set, per issuer. Such a token
	// waits (bounded by its context) for the next refetch rather than
	// failing, unless the cached set already settles that its key does
	// not exist: the set was fetched after the token's `iat` plus the
	// clock skew, or it dropped that kid. Default: 5 s.
	UnknownKeyCooldown time.Duration
	// MaxTokenBytes is the largest token accepted, checked before any
	// decoding. Default: 8 KiB.
	MaxTokenBytes int
	// CacheSize is how many verified tokens are remembered (each bound to
	// the whole token, never past `exp`). Default: 10,000; negative
	// disables the cache.
	CacheSize int
	// OnFetch, when set, is called after every discovery and JWKS request,
	// from the fetching goroutine; it must be quick and safe for
	// concurrent use. Meant for metrics: issuer and kind are bounded label
	// values.
	OnFetch func(FetchEvent)
}

// FetchEvent describes one discovery or JWKS request.
type FetchEvent struct {
	// Issuer is the configured issuer the keys belong to.
	Issuer string
	// Kind is "discovery" or "jwks".
	Kind string
	// URL is the requested URL.
	URL string
	// OK reports success (a usable document).
	OK bool
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Keys is the number of usable keys in a successful JWKS fetch.
	Keys int
	// Duration is how long the request took.
	Duration time.Duration
	// Err is the failure, nil when OK.
	Err error
}

// withDefaults returns o with defaults filled in and each issuer's
// defaults applied.
func (o Options) withDefaults() Options {
	iss := make([]Config, len(o.Issuers))
	for i, c := range o.Issuers {
		iss[i] = c.withDefaults()
	}
	o.Issuers = iss
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	setDefault(&o.FetchTimeout, DefaultFetchTimeout)
	setDefault(&o.MaxResponseBytes, DefaultMaxResponseBytes)
	setDefault(&o.RefreshInterval, DefaultRefreshInterval)
	setDefault(&o.MinRefreshInterval, DefaultMinRefreshInterval)
	setDefault(&o.MaxRefreshInterval, DefaultMaxRefreshInterval)
	setDefault(&o.UnknownKeyCooldown, DefaultUnknownKeyCooldown)
	setDefault(&o.MaxTokenBytes, DefaultMaxTokenBytes)
	setDefault(&o.CacheSize, DefaultCacheSize)
	return o
}

func setDefault[T int | int64 | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// Validate reports the first problem in the options or any issuer. It
// does no network I/O.
func (o Options) Validate() error {
	if len(o.Issuers) == 0 {
		return errors.New("jwtauth: at least one issuer is required")
	}
	seen := make(map[string]bool, len(o.Issuers))
	for _, c := range o.Issuers {
		if err := c.Validate(); err != nil {
			return err
		}
		if seen[c.Issuer] {
			return fmt.Errorf("jwtauth: issuer %q configured twice", c.Issuer)
		}
		seen[c.Issuer] = true
	}
	d := o.withDefaults()
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"fetch timeout", d.FetchTimeout},
		{"refresh interval", d.RefreshInterval},
		{"min refresh interval", d.MinRefreshInterval},
		{"max refresh interval", d.MaxRefreshInterval},
		{"unknown key cooldown", d.UnknownKeyCooldown},
	} {
		if f.v < 0 {
			return fmt.Errorf("jwtauth: %s must not be negative, got %v", f.name, f.v)
		}
	}
	if d.MinRefreshInterval > d.MaxRefreshInterval {
		return fmt.Errorf("jwtauth: min refresh interval %v exceeds max refresh interval %v", d.MinRefreshInterval, d.MaxRefreshInterval)
	}
	if d.MaxResponseBytes < 0 {
		return fmt.Errorf("jwtauth: max response bytes must not be negative, got %d", d.MaxResponseBytes)
	}
	if d.MaxTokenBytes < 0 {
		return fmt.Errorf("jwtauth: max token bytes must not be negative, got %d", d.MaxTokenBytes)
	}
	return nil
}
