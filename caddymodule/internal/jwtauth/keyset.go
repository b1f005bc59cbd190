package jwtauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errClosed is the cause of ErrUnavailable after Verifier.Close.
var errClosed = errors.New("jwtauth: verifier closed")

// keySnapshot is an immutable view of one fetched key set.
type keySnapshot struct {
	byKid      map[string][]verificationKey
	noKid      []verificationKey // keys without a `kid`
	all        []verificationKey
	freshUntil time.Time // after this, a background refresh starts
}

func newSnapshot(keys []verificationKey, freshUntil time.Time) *keySnapshot {
	s := &keySnapshot{byKid: make(map[string][]verificationKey, len(keys)), all: keys, freshUntil: freshUntil}
	for _, k := range keys {
		if k.kid == "" {
			s.noKid = append(s.noKid, k)
		} else {
			s.byKid[k.kid] = append(s.byKid[k.kid], k)
		}
	}
	return s
}

// removedFrom reports whether some key of old is missing from s.
func (s *keySnapshot) removedFrom(old *keySnapshot) bool {
	for _, o := range old.all {
		found := false
		for _, k := range s.all {
			if k.equal(o) {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// keySet caches one issuer's JWKS. Reads are lock-free (an atomic
// snapshot); fetches run one at a time per issuer on their own goroutine
// (callers wait for it, or not), bounded by the fetch timeout and
// cancelled by Close. Nothing runs between fetches: a stale set is
// refreshed by the first read after it went stale, in the background,
// while the stale keys keep verifying.
type keySet struct {
	issuer       string
	jwksURL      string // configured; "" means discover
	discoveryURL string
	f            *fetcher
	now          func() time.Time
	refresh      time.Duration
	minRefresh   time.Duration
	maxRefresh   time.Duration
	cooldown     time.Duration
	base         context.Context // cancelled by Close
	wg           *sync.WaitGroup

	snap  atomic.Pointer[keySnapshot]
	epoch atomic.Uint64 // bumped whenever a refresh drops a key

	mu           sync.Mutex
	inflight     *fetchCall
	resolvedJWKS string    // jwks_uri from discovery, "" until known
	failures     int       // consecutive failed fetches
	retryAt      time.Time // no new fetch before (backoff)
	lastErr      error
	lastUnknown  time.Time // start of the last unknown-key refetch
}

// fetchCall is one fetch that several callers may wait for.
type fetchCall struct {
	done chan struct{}
	err  error
}

// current returns the cached keys, starting a background refresh when
// they are stale. With no keys yet it fetches them and waits (or fails
// at once while backing off after a failure); nil snapshot means
// unavailable, with the reason.
func (ks *keySet) current(ctx context.Context) (*keySnapshot, error) {
	if s := ks.snap.Load(); s != nil {
		if !ks.now().Before(s.freshUntil) {
			ks.mu.Lock()
			ks.startLocked()
			ks.mu.Unlock()
		}
		return s, nil
	}
	ks.mu.Lock()
	call := ks.startLocked()
	err := ks.lastErr
	ks.mu.Unlock()
	if call != nil {
		err = ks.wait(ctx, call)
	}
	if s := ks.snap.Load(); s != nil {
		return s, nil
	}
	if err == nil {
		err = errors.New("jwtauth: no keys fetched yet")
	}
	return nil, err
}

// refetchUnknown is called when a token's key is not in the cached set.
// It joins a fetch already running, or starts one unless the unknown-key
// cooldown or the failure backoff forbids it, and waits for it. The error
// is the fetch's (nil when none was waited for).
func (ks *keySet) refetchUnknown(ctx context.Context) error {
	ks.mu.Lock()
	call := ks.inflight
	if call == nil {
		now := ks.now()
		if !ks.lastUnknown.IsZero() && now.Sub(ks.lastUnknown) < ks.cooldown {
			ks.mu.Unlock()
			return nil
		}
		if call = ks.startLocked(); call != nil {
			ks.lastUnknown = now
		}
	}
	ks.mu.Unlock()
	if call == nil {
		return nil
	}
	return ks.wait(ctx, call)
}

// wait blocks until call finishes or ctx ends.
func (ks *keySet) wait(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked returns the running fetch, or starts one unless backing off
// (then nil). ks.mu must be held.
func (ks *keySet) startLocked() *fetchCall {
	if ks.inflight != nil {
		return ks.inflight
	}
	if ks.base.Err() != nil {
		ks.lastErr = errClosed
		return nil
	}
	if ks.now().Before(ks.retryAt) {
		return nil
	}
	call := &fetchCall{done: make(chan struct{})}
	ks.inflight = call
	ks.wg.Add(1)
	go ks.run(call)
	return call
}

// run performs one fetch and records its outcome.
func (ks *keySet) run(call *fetchCall) {
	defer ks.wg.Done()
	err := ks.fetch(ks.base)
	ks.mu.Lock()
	ks.inflight = nil
	if err != nil {
		ks.failures++
		ks.retryAt = ks.now().Add(backoff(ks.failures))
		ks.lastErr = err
		ks.resolvedJWKS = "" // the jwks_uri may have moved: discover again
	} else {
		ks.failures, ks.retryAt, ks.lastErr = 0, time.Time{}, nil
	}
	ks.mu.Unlock()
	call.err = err
	close(call.done)
}

// fetch resolves the JWKS URL (discovering it when not configured),
// fetches the key set and installs it.
func (ks *keySet) fetch(ctx context.Context) error {
	url := ks.jwksURL
	if url == "" {
		ks.mu.Lock()
		url = ks.resolvedJWKS
		ks.mu.Unlock()
		if url == "" {
			u, err := ks.f.discover(ctx, ks.discoveryURL)
			if err != nil {
				return err
			}
			url = u
			ks.mu.Lock()
			ks.resolvedJWKS = u
			ks.mu.Unlock()
		}
	}
	keys, maxAge, hasMaxAge, err := ks.f.jwks(ctx, url)
	if err != nil {
		return err
	}
	ttl := ks.refresh
	if hasMaxAge {
		ttl = min(max(maxAge, ks.minRefresh), ks.maxRefresh)
	}
	next := newSnapshot(keys, ks.now().Add(ttl))
	if old := ks.snap.Load(); old != nil && next.removedFrom(old) {
		// Install first, then invalidate: a token verified with a dropped
		// key and cached under the old epoch is never served again.
		ks.snap.Store(next)
		ks.epoch.Add(1)
		return nil
	}
	ks.snap.Store(next)
	return nil
}

// backoff is the pause after n consecutive failures: 1 s, 2 s, 4 s … 1 min.
func backoff(n int) time.Duration {
	if n > 7 {
		return backoffMax
	}
	return min(backoffMin<<(n-1), backoffMax)
}
