// Package jwtauth verifies bearer JWTs (RFC 7519, RFC 9068 access
// tokens) from trusted issuers and turns them into principals.
//
// A Verifier is built from Options without network I/O. Each issuer's
// keys come from its JWKS (explicit, or found by OpenID Connect
// discovery), fetched when first needed, cached, refreshed when stale
// (Cache-Control max-age, clamped) in the background while the stale keys
// keep working, refetched for an unknown `kid` at most once per cooldown
// (a token under a kid the cached set lacks waits for that refetch rather
// than failing), and retried with backoff after a failure. Nothing a
// token sends evicts a key or makes a genuine token fail. Verified
// tokens are cached in a bounded cache, keyed by a keyed hash and bound
// to the whole token, never past `exp`, so a client reusing its token
// costs one hash, one map lookup and one comparison.
//
// Algorithms are allow-listed per issuer; `none` is never accepted, and
// HS256/384/512 only with an issuer's shared secret, which never verifies
// an asymmetric algorithm (nor a JWKS key an HS one).
//
// A token in the common shape (see parsePlain: strict base64url, a
// header of alg, kid, typ and a few inert members as plain strings) is
// read without reflection and its signature checked with crypto/rsa,
// crypto/ecdsa, crypto/ed25519 or crypto/hmac directly, exactly as
// go-jose would; every other token is read with encoding/json and
// verified by go-jose, as it always was.
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// Verifier verifies bearer JWTs. It is safe for concurrent use. Close it
// when done: it stops fetches in flight (no goroutine runs between
// fetches).
type Verifier struct {
	opts    Options // defaults applied
	issuers map[string]*issuer
	cache   *tokenCache                               // nil when disabled
	parse   func(token string) (*parsedToken, *Error) // parse; parseLegacy in differential tests
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New checks opts and returns a Verifier. It does no network I/O: keys
// are fetched when a token first needs them, or by Warm.
func New(opts Options) (*Verifier, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	base, cancel := context.WithCancel(context.Background())
	v := &Verifier{opts: o, issuers: make(map[string]*issuer, len(o.Issuers)), parse: parse, cancel: cancel}
	if o.CacheSize > 0 {
		v.cache = newTokenCache(o.CacheSize)
	}
	for _, c := range o.Issuers {
		is := &issuer{cfg: c, required: make(map[string]any, len(c.RequiredClaims))}
		for name, val := range c.RequiredClaims {
			n, err := normalizeJSON(val)
			if err != nil { // Validate checked it; keep the error path honest
				cancel()
				return nil, fmt.Errorf("jwtauth: issuer %q: required claim %q: %w", c.Issuer, name, err)
			}
			is.required[name] = n
		}
		if c.usesKeySet() {
			is.keys = &keySet{
				issuer:       c.Issuer,
				jwksURL:      c.JWKSURL,
				discoveryURL: c.DiscoveryURL,
				f: &fetcher{
					issuer:   c.Issuer,
					client:   o.HTTPClient,
					timeout:  o.FetchTimeout,
					maxBytes: o.MaxResponseBytes,
					onFetch:  o.OnFetch,
				},
				now:        o.Now,
				refresh:    o.RefreshInterval,
				minRefresh: o.MinRefreshInterval,
				maxRefresh: o.MaxRefreshInterval,
				cooldown:   o.UnknownKeyCooldown,
				after:      o.After,
				base:       base,
				wg:         &v.wg,
			}
		}
		v.issuers[c.Issuer] = is
	}
	return v, nil
}

// Verify checks a compact JWS bearer token and returns its principal.
// Every error is an *Error matching one sentinel (ErrMalformed …
// ErrUnavailable) with a Reason; its text never contains the token. ctx
// bounds waiting for a key fetch (the fetch itself is bounded by
// Options.FetchTimeout and shared with other callers).
//
// Checks, in order: size, cache, structure and JOSE header (duplicate
// names, crit), `alg` (never none), `iss`, the issuer's allow-list, the
// signature, then typ, exp, nbf, iat, aud, sub and required claims. The
// returned principal's slices and Claims map are shared with the cache:
// read them, never modify them.
func (v *Verifier) Verify(ctx context.Context, token string) (principal.Principal, error) {
	if len(token) > v.opts.MaxTokenBytes {
		return principal.Principal{}, fail(ErrMalformed, ReasonTooLarge, fmt.Sprintf("token longer than %d bytes", v.opts.MaxTokenBytes))
	}
	now := v.opts.Now()
	var key uint64
	if v.cache != nil {
		key = v.cache.key(token)
		if e := v.cache.get(key, token, now.UnixNano()); e != nil && e.epoch == e.is.epoch() {
			return e.p, nil
		}
	}
	t, perr := v.parse(token)
	if perr != nil {
		return principal.Principal{}, perr
	}
	alg := t.header.alg
	iss, _ := t.claims["iss"].(string)
	is := v.issuers[iss]
	if is == nil {
		return principal.Principal{}, fail(ErrIssuer, ReasonUntrustedIssuer, "iss "+quoteShort(iss)+" is not trusted")
	}
	if !is.allows(alg) {
		return principal.Principal{}, fail(ErrUnsupportedAlg, ReasonAlgNotAllowed, "alg "+quoteShort(alg)+" is not allowed").withIssuer(iss)
	}
	epoch := is.epoch() // before verifying: a key dropped meanwhile invalidates the entry
	if err := is.verifySignature(ctx, token, t); err != nil {
		return principal.Principal{}, err.withIssuer(iss)
	}
	p, cerr := is.checkClaims(t, now)
	if cerr != nil {
		return principal.Principal{}, cerr.withIssuer(iss)
	}
	if v.cache != nil {
		v.cache.put(key, token, &cachedToken{p: p, is: is, epoch: epoch}, p.ExpiresAt.UnixNano(), now.UnixNano())
	}
	return p, nil
}

// Warm fetches the keys of every issuer that has none yet and waits, so
// the first requests do not pay for discovery. Failures are returned
// (joined) but change nothing: Verify fetches again later, with backoff.
func (v *Verifier) Warm(ctx context.Context) error {
	var errs []error
	for _, is := range v.issuers {
		if is.keys == nil {
			continue
		}
		if _, err := is.keys.current(ctx); err != nil {
			errs = append(errs, fmt.Errorf("jwtauth: warming issuer %q: %w", is.cfg.Issuer, err))
		}
	}
	return errors.Join(errs...)
}

// CacheLen returns the number of cached verified tokens (expired entries
// not yet evicted included), for metrics and tests.
func (v *Verifier) CacheLen() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// Close cancels key fetches in flight and waits for them to end. Cached
// keys and tokens keep working; keys that are missing become
// ErrUnavailable. Close is idempotent and always returns nil.
func (v *Verifier) Close() error {
	v.cancel()
	// A fetch starts (wg.Add) only under its key set's lock after checking
	// the context: once each lock has been taken, none can start, and
	// Wait cannot race an Add.
	for _, is := range v.issuers {
		if is.keys != nil {
			is.keys.mu.Lock()
			is.keys.mu.Unlock() //nolint:staticcheck // an empty critical section is the point
		}
	}
	v.wg.Wait()
	return nil
}
