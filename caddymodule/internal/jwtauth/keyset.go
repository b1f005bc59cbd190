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
	// removed holds kids an earlier set had and this one has not (at
	// most maxRemovedKids): tokens under them fail without a refetch.
	removed map[string]bool
}

// maxRemovedKids bounds keySnapshot.removed.
const maxRemovedKids = 4 * maxKeys

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

// inheritRemoved records in s the kids of old (and those old recorded
// as removed) that s does not have.
func (s *keySnapshot) inheritRemoved(old *keySnapshot) {
	add := func(kid string) {
		if kid == "" || len(s.byKid[kid]) > 0 || len(s.removed) >= maxRemovedKids {
			return
		}
		if s.removed == nil {
			s.removed = make(map[string]bool)
		}
		s.removed[kid] = true
	}
	for _, k := range old.all {
		add(k.kid)
	}
	for kid := range old.removed {
		add(kid)
	}
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
//
// What a token sends never changes the set: keys change only when a
// fetch installs a new set, which every caller then uses. A token whose
// kid is in the set is judged with that key alone (no refetch, no wait,
// whatever its signature); one whose kid is not waits for a fetch that
// can tell (see refetchUnknown), so unauthenticated tokens can delay a
// genuine token with a brand-new key by at most one cooldown, and never
// make it fail.
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
	after        func(time.Duration) <-chan time.Time
	base         context.Context // cancelled by Close
	wg           *sync.WaitGroup

	snap    atomic.Pointer[keySnapshot]
	epoch   atomic.Uint64 // bumped whenever a refresh drops a key
	started atomic.Uint64 // fetches started; written under mu

	mu           sync.Mutex
	inflight     *fetchCall
	finished     uint64    // sequence number of the last fetch that ended
	finishedAt   time.Time // when that fetch started
	resolvedJWKS string    // jwks_uri from discovery, "" until known
	failures     int       // consecutive failed fetches
	retryAt      time.Time // no new fetch before (backoff)
	lastErr      error
	lastUnknown  time.Time // start of the last unknown-key refetch
}

// fetchCall is one fetch that several callers may wait for.
type fetchCall struct {
	seq   uint64    // 1 for the first fetch, then counting up
	start time.Time // when it started
	done  chan struct{}
	err   error
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

// miss describes a token whose key is not in the cached set: which
// fetches can tell whether the key exists.
type miss struct {
	// need is the sequence number of the first fetch to start after the
	// token arrived: such a fetch saw every key published before.
	need uint64
	// minted, when not zero, is the token's `iat` plus the clock skew, on
	// our clock: a fetch that started then or later also saw every key
	// the token could have been signed with (issuers publish a key
	// before signing with it). The claim is unverified, but it only
	// decides how long this one token waits, never another's fate.
	minted time.Time
}

// arrive returns the miss description of a token arriving now, before
// it looks at the keys; minted as for miss.minted.
func (ks *keySet) arrive(minted time.Time) miss {
	return miss{need: ks.started.Load() + 1, minted: minted}
}

// settledLocked reports whether a fetch that ended can tell whether m's
// key exists. ks.mu must be held.
func (ks *keySet) settledLocked(m miss) bool {
	return ks.finished >= m.need || (!m.minted.IsZero() && ks.finished > 0 && !ks.finishedAt.Before(m.minted))
}

// refetchUnknown is called when a token's key is not in the cached set.
// It returns once found reports that a newer set has the key, once a
// fetch that settles m has ended (the key does not exist: a token minted
// well before the last fetch fails at once, with no fetch), when no fetch
// can run (backing off after a failure, or closed), or when ctx ends.
//
// It joins a fetch already running. Otherwise it starts one, unless an
// unknown-key fetch started less than the cooldown ago: then it waits
// for the cooldown to end and for the fetch that starts then, which every
// caller waiting meanwhile shares. So unknown kids, however many, cost
// the issuer at most one fetch per cooldown, and a genuine token whose
// key is newer than the cached set is delayed (at most a cooldown plus a
// fetch, bounded by ctx), never refused, by tokens sent before it.
// The error is the last fetch's (nil when it succeeded) or ctx's.
func (ks *keySet) refetchUnknown(ctx context.Context, m miss, found func(*keySnapshot) bool) error {
	for {
		ks.mu.Lock()
		if ks.settledLocked(m) {
			err := ks.lastErr
			ks.mu.Unlock()
			return err
		}
		call := ks.inflight
		var timer <-chan time.Time
		if call == nil {
			now := ks.now()
			if next := ks.lastUnknown.Add(ks.cooldown); !ks.lastUnknown.IsZero() && now.Before(next) {
				timer = ks.after(next.Sub(now))
			} else if call = ks.startLocked(); call != nil {
				ks.lastUnknown = now
			} else {
				err := ks.lastErr // backing off, or closed
				ks.mu.Unlock()
				return err
			}
		}
		ks.mu.Unlock()
		if call == nil {
			select {
			case <-timer:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := ks.wait(ctx, call); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if found(ks.snap.Load()) {
			return nil
		}
	}
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
	call := &fetchCall{seq: ks.started.Add(1), start: ks.now(), done: make(chan struct{})}
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
	ks.inflight, ks.finished, ks.finishedAt = nil, call.seq, call.start
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
	old := ks.snap.Load()
	if old != nil {
		next.inheritRemoved(old)
	}
	if old != nil && next.removedFrom(old) {
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
