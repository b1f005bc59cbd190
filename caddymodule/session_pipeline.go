package caddymodule

import (
	"context"
	"errors"
	"net/http"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// One round trip for a session and its rate limit.
//
// A browser session kept in Redis is read on every request (a logout on
// another replica is seen at once), and a route's zones keyed by the
// user ({http.auth.user.id}, the default) are decided in Redis too. The
// zone key is the session's subject, known only once the record is read:
// two round trips. A session's subject never changes, though, and the
// session manager remembers the subject of the last record it decoded at
// the session's key. So the zones' scripts are sent in the same pipeline
// as the record's GET, keyed by that subject: a speculative charge,
// held as a prepaid value until the limit step.
//
// Why this is safe:
//
//   - The session is read and checked as before: the record the GET
//     returned, in this request, opened, expiry-checked, refreshed and
//     touched by the session manager exactly as LoadInto does. Nothing
//     about authentication or authorization reads the speculation.
//   - The limit step computes its requests as it always did (after
//     authorize, from the placeholders of the principal allowed) and
//     uses the prepaid results only when they answer exactly those
//     requests (same zones, keys, costs, no override); otherwise it
//     refunds the charge and asks the limiter as before.
//   - A charge the limit step did not take is refunded when ServeHTTP
//     returns, whatever the path (no session, logout, expiry, 401, 403,
//     503, a panic): ServeHTTP defers settle right after declaring it.
//     A refused request therefore consumes nothing once it is answered,
//     as with several zones, where a zone's refusal is already refunded
//     (ratelimit.Redis). Only a refund that fails (Redis gone between
//     the two round trips) leaves a charge, as Allow's refunds do.
//   - While a charge is held, the same user's other requests see the
//     bucket one event emptier, as with any request in flight; one
//     refused meanwhile may leave a refusal in the deny cache of its
//     replica until its Retry-After. The refund clears it on the same
//     replica (Batch.Refund), not on others.
//
// It applies only when the route's zones are all keyed by the user
// alone (Handler.zonesBySubject), the sessions are in Redis and the
// limiter is a Redis limiter on the same client, and the session manager
// has decoded the session before; everything else takes the usual path.

// prepaid is the zones' decision made in the session read's round trip,
// until the limit step takes it or settle refunds it.
type prepaid struct {
	batch   *ratelimit.Batch
	reqs    []ratelimit.Request
	results []ratelimit.Result
	err     error
	taken   bool
}

// sessionRedis returns the Redis store and limiter when this route's
// session read and zones can share a round trip (see above).
func (h *Handler) sessionRedis() (*store.Redis, *ratelimit.Redis, bool) {
	if !h.zonesBySubject {
		return nil, nil, false
	}
	st, ok := h.app.sessions.Store().(*store.Redis)
	if !ok {
		return nil, nil, false
	}
	rl, ok := h.app.limiter.(*ratelimit.Redis)
	if !ok || rl.Client() != st.Client() {
		return nil, nil, false
	}
	return st, rl, true
}

// loadSessionInto loads r's session into s: through one pipeline with
// the zones' scripts (decided into pre) when sessionRedis applies, else
// as LoadInto.
func (h *Handler) loadSessionInto(r *http.Request, s *session.Session, pre *prepaid) error {
	st, rl, ok := h.sessionRedis()
	if !ok {
		return h.app.sessions.LoadInto(r.Context(), r, s)
	}
	return h.app.sessions.LoadVia(r.Context(), r, s, func(ctx context.Context, key, subject string) ([]byte, error) {
		return h.readCharging(ctx, st, rl, key, subject, pre)
	})
}

// readCharging reads the session record at key, and, when the subject
// is known, charges the route's zones for it in the same pipeline (into
// pre). Without a subject, or when the limiter decides without Redis
// (deny cache, open circuit), it is the store's Get alone.
func (h *Handler) readCharging(ctx context.Context, st *store.Redis, rl *ratelimit.Redis, key, subject string, pre *prepaid) ([]byte, error) {
	if subject == "" || pre.batch != nil || ctx.Err() != nil {
		// A client already gone gets the store's answer alone: its
		// request must not take the limiter's circuit-breaker probe.
		return st.Get(ctx, key)
	}
	var buf [maxLocalZones]ratelimit.Request
	reqs := buf[:0]
	for _, z := range h.zones {
		reqs = append(reqs, ratelimit.Request{Zone: z, Key: subject})
	}
	b, err := rl.Begin(reqs)
	if err != nil {
		return st.Get(ctx, key) // an invalid request: the limit step reports it
	}
	pre.batch, pre.reqs = b, b.Requests()
	if !b.NeedsRedis() {
		pre.results, pre.err = b.Finish(ctx)
		return st.Get(ctx, key)
	}
	raw, err := st.GetAlong(ctx, key, rl.Timeout(), b.Queue)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Sessions fail closed: the request ends here, where it would
		// have without the scripts; they leave no charge and no mark on
		// the limiter's circuit breaker.
		_ = b.Cancel(context.WithoutCancel(ctx))
		return raw, err
	}
	pre.results, pre.err = b.Finish(ctx)
	return raw, err
}

// take returns the prepaid decision if it answers exactly reqs, the
// requests the limit step would make, and marks it taken; ok is false
// (and nothing is taken) otherwise.
func (pre *prepaid) take(reqs []ratelimit.Request) (results []ratelimit.Result, err error, ok bool) {
	if pre.batch == nil || pre.taken || len(reqs) != len(pre.reqs) {
		return nil, nil, false
	}
	for i := range reqs {
		a, b := &reqs[i], &pre.reqs[i]
		if a.Zone != b.Zone || a.Key != b.Key || a.Cost != b.Cost || a.Override != nil || b.Override != nil {
			return nil, nil, false
		}
	}
	pre.taken = true
	return pre.results, pre.err, true
}

// settle refunds a prepaid charge the limit step did not take. ServeHTTP
// defers it; the refund outlives a client that went away (its context is
// not cancelled with the request's) and is bounded by the limiter's
// timeout.
func (pre *prepaid) settle(ctx context.Context) {
	if pre.batch == nil || pre.taken {
		return
	}
	pre.taken = true
	_ = pre.batch.Refund(context.WithoutCancel(ctx)) // counted by the limiter's observer
}

// subjectKeyed reports whether every zone is keyed by the user's id
// alone (the default key), the case readCharging can key in advance.
func subjectKeyed(zones []ratelimit.Zone) bool {
	for _, z := range zones {
		if name, ok := singlePlaceholder(z.Key); !ok || name != "http.auth.user.id" {
			return false
		}
	}
	return len(zones) > 0
}
