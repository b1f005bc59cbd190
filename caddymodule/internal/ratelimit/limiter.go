package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limiter decides whether a request may pass the rate limits of its zones.
//
// Implementations: Memory (one process) and Redis (shared by every
// replica). Both are safe for concurrent use.
type Limiter interface {
	// Allow decides one request that counts against every zone in reqs
	// (usually one Request per zone a route applies) and returns one
	// Result per Request, in order. The request is admitted only if every
	// Result is Allowed (see Allowed).
	//
	// A refused request consumes nothing, in no zone: refused events never
	// change a bucket, and when some zones admit and another refuses,
	// the admitting zones are not charged (Memory: atomically; Redis: the
	// charge is refunded, see Redis).
	//
	// Errors: invalid requests (a programming or configuration error)
	// return nil results and an error that does not wrap ErrUnavailable.
	// When the store cannot be used, Allow returns both results, decided
	// by each zone's OnError (Source SourceOnError), and an error that
	// wraps ErrUnavailable.
	Allow(ctx context.Context, reqs []Request) ([]Result, error)
}

// Errors that callers branch on (with errors.Is).
var (
	// ErrUnavailable is wrapped by every Allow error caused by the store:
	// the results then carry each zone's OnError verdict.
	ErrUnavailable = errors.New("ratelimit: store unavailable")
	// ErrCircuitOpen is wrapped (together with ErrUnavailable) when the
	// store was not asked because its circuit breaker is open.
	ErrCircuitOpen = errors.New("ratelimit: circuit breaker open")
)

// Request asks one zone to admit one event.
type Request struct {
	// Zone is the zone whose bucket the event counts against. Its Name,
	// Rate, Burst and OnError are used; Key (the template) is not.
	Zone Zone
	// Key is the resolved bucket key within the zone, such as a user id
	// or a client IP; it must not be empty. Redis stores only a hash of it.
	Key string
	// Cost is how many events the request counts as. Default (0) 1; it
	// must not exceed the bucket's capacity (Burst+1).
	Cost int
	// Override, when non-nil, replaces the zone's rate and burst for this
	// key, such as an API key's own limit. The bucket is the same (zone
	// and key), so changing a key's override keeps what it has used.
	Override *Quota
}

// quota is the rate and burst that apply to r.
func (r *Request) quota() Quota {
	if r.Override != nil {
		return *r.Override
	}
	return r.Zone.Quota()
}

// cost is r.Cost with its default.
func (r *Request) cost() int {
	if r.Cost == 0 {
		return 1
	}
	return r.Cost
}

// checkRequests validates reqs cheaply (no regular expressions: zones are
// validated once, with Zone.Validate, when configured).
func checkRequests(reqs []Request) error {
	for i := range reqs {
		r := &reqs[i]
		if r.Zone.Name == "" {
			return fmt.Errorf("ratelimit: request %d has no zone name", i)
		}
		if r.Key == "" {
			return fmt.Errorf("ratelimit: zone %q: request %d has an empty key", r.Zone.Name, i)
		}
		q := r.quota()
		if err := q.check(); err != nil {
			return fmt.Errorf("ratelimit: zone %q: %w", r.Zone.Name, err)
		}
		if c := r.cost(); c < 1 || c > q.Capacity() {
			return fmt.Errorf("ratelimit: zone %q: cost %d must be between 1 and burst+1 (%d)", r.Zone.Name, c, q.Capacity())
		}
	}
	return nil
}

// Source says what decided a Result. Its String form is a stable,
// machine-readable reason for logs and metric labels.
type Source uint8

const (
	// SourceStore: the limiter's algorithm decided, in memory or in Redis.
	SourceStore Source = iota
	// SourceDenyCache: refused from the local deny cache (Redis only),
	// without a round trip, because Redis refused the bucket recently and
	// would refuse this request too. RetryAfter and ResetAfter may be
	// shorter than Redis would say, by up to one round trip.
	SourceDenyCache
	// SourceOnError: the store was unavailable; the zone's OnError
	// decided. Remaining, RetryAfter and ResetAfter are zero.
	SourceOnError
	// SourceSkipped: not evaluated because another zone of the request
	// was refused from the deny cache. Allowed is true and the counters
	// are zero; nothing was consumed.
	SourceSkipped
)

// String returns "store", "deny_cache", "on_error" or "skipped".
func (s Source) String() string {
	switch s {
	case SourceStore:
		return "store"
	case SourceDenyCache:
		return "deny_cache"
	case SourceOnError:
		return "on_error"
	case SourceSkipped:
		return "skipped"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// Result is one zone's verdict on a request.
type Result struct {
	// Zone is the zone's name.
	Zone string
	// Quota is the rate and burst that applied (the override, if any).
	Quota Quota
	// Allowed reports whether this zone admits the request.
	Allowed bool
	// Source says what decided; see Source.
	Source Source
	// Limit is the bucket's capacity: the number of cost-1 events a full
	// bucket admits at once (Burst+1).
	Limit int
	// Remaining is how many more cost-1 events the zone would admit at
	// once after this request (for a refused request or one another zone
	// refused: without it), between 0 and Limit.
	Remaining int
	// RetryAfter is, for a refused request, the time after which the same
	// request would be admitted if nothing else is consumed meanwhile;
	// 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is the time until the bucket is full again (Remaining
	// back to Limit) if nothing more is consumed.
	ResetAfter time.Duration
}

// Allowed reports whether every result admits the request; true for none.
func Allowed(rs []Result) bool {
	for i := range rs {
		if !rs[i].Allowed {
			return false
		}
	}
	return true
}

// Strictest returns the result that should describe the request in
// response headers: among refused results, the one with the longest
// RetryAfter; when all admit, the one with the fewest Remaining (then the
// longest ResetAfter). ok is false when rs is empty.
func Strictest(rs []Result) (r Result, ok bool) {
	best := -1
	for i := range rs {
		if best < 0 || stricter(&rs[i], &rs[best]) {
			best = i
		}
	}
	if best < 0 {
		return Result{}, false
	}
	return rs[best], true
}

// stricter reports whether a should describe a request rather than b.
func stricter(a, b *Result) bool {
	switch {
	case a.Allowed != b.Allowed:
		return !a.Allowed
	case !a.Allowed:
		return a.RetryAfter > b.RetryAfter
	case a.Source != b.Source:
		return b.Source == SourceSkipped || (a.Source == SourceStore && b.Source == SourceOnError)
	case a.Remaining != b.Remaining:
		return a.Remaining < b.Remaining
	}
	return a.ResetAfter > b.ResetAfter
}

// onErrorResults fills out with each zone's OnError verdict.
func onErrorResults(reqs []Request, out []Result) {
	for i := range reqs {
		out[i] = onErrorResult(&reqs[i])
	}
}

// onErrorResult is the verdict of req's zone while the store is
// unavailable.
func onErrorResult(req *Request) Result {
	q := req.quota()
	return Result{
		Zone:    req.Zone.Name,
		Quota:   q,
		Allowed: req.Zone.OnError.allows(),
		Source:  SourceOnError,
		Limit:   q.Capacity(),
	}
}
