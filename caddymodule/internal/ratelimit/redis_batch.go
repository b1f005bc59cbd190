package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch is one Allow on Redis whose round trip the caller sends, so that
// its script commands can share a pipeline (one round trip) with other
// commands of the same request, such as the read of its session record.
//
// Begin it; if NeedsRedis, Queue its commands on a pipeline and Exec the
// pipeline; then Finish it, which returns what Allow would have returned
// (Finish is Allow's second half: the deny cache, the circuit breaker,
// NOSCRIPT, several zones and Redis errors are handled exactly as by
// Allow). Finish must be called once NeedsRedis was true, else the
// breaker's probe, if this batch holds it, ends only after the cooldown.
//
// A request that every zone admitted and that is then refused elsewhere
// (authentication, authorization) is given back with Refund. A Batch is
// used by one goroutine.
type Batch struct {
	r     *Redis
	reqs  []Request
	keys  []string
	out   []Result
	cmds  []onceCmd
	sent  time.Time // r.now() when queued, for the deny cache
	start time.Time // time.Now() when queued, for the latency
	err   error     // the outcome when decided without a round trip
	state batchState
	probe bool // holds the half-open breaker's probe (breaker.admit)

	// Room for the usual one or two zones, so that a batch is one
	// allocation rather than one per slice.
	reqBuf   [batchInline]Request
	keyBuf   [batchInline]string
	outBuf   [batchInline]Result
	cmdBuf   [batchInline]onceCmd
	replyBuf [batchInline]reply
}

// batchInline is the number of requests a Batch holds without
// allocating more.
const batchInline = 2

// batchState is where a Batch is in its life.
type batchState uint8

const (
	batchDecided  batchState = iota // decided without Redis; Finish returns it
	batchReady                      // Queue next
	batchQueued                     // the pipeline is (being) sent; Finish next
	batchFinished                   // Finish returned
	batchRefunded                   // Refund ran (or had nothing to do)
)

// Begin starts a batch for reqs (see Batch): it checks them as Allow
// does (an invalid request is an error, and no batch) and decides
// without Redis what the deny cache or an open circuit breaker decide.
// It copies reqs (see Requests).
func (r *Redis) Begin(reqs []Request) (*Batch, error) {
	if err := checkRequests(reqs); err != nil {
		return nil, err
	}
	b := &Batch{r: r}
	b.reqs = append(b.reqBuf[:0:batchInline], reqs...)
	b.out = grow(b.outBuf[:0:batchInline], len(reqs))
	if len(reqs) == 0 {
		return b, nil
	}
	b.keys = grow(b.keyBuf[:0:batchInline], len(reqs))
	for i := range reqs {
		b.keys[i] = r.BucketKey(reqs[i].Zone.Name, reqs[i].Key)
	}
	if r.fromDenyCache(reqs, b.keys, b.out) {
		r.obs.refused(b.out)
		return b, nil
	}
	ok, probe := r.breaker.admit()
	if !ok {
		onErrorResults(reqs, b.out)
		r.obs.refused(b.out)
		b.err = fmt.Errorf("%w: %w", ErrUnavailable, ErrCircuitOpen)
		return b, nil
	}
	b.state, b.probe = batchReady, probe
	return b, nil
}

// releaseProbe releases the breaker's probe if this batch holds it and
// its outcome was not recorded (see breaker.release).
func (b *Batch) releaseProbe() {
	if b.probe {
		b.probe = false
		b.r.breaker.release()
	}
}

// grow returns s (empty, with room) extended to n zero elements.
func grow[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return make([]T, n)
}

// Requests returns the batch's copy of the requests it decides.
func (b *Batch) Requests() []Request { return b.reqs }

// NeedsRedis reports whether the batch has commands to send (Queue).
func (b *Batch) NeedsRedis() bool { return b.state == batchReady }

// Queue queues the batch's script commands on pipe, whose Exec the
// caller then runs with a context no longer-lived than ctx (its deadline
// bounds the round trip: see Timeout). It does nothing unless NeedsRedis.
// The commands are never retried by go-redis (see Redis).
func (b *Batch) Queue(ctx context.Context, pipe redis.Pipeliner) {
	if b.state != batchReady {
		return
	}
	b.sent, b.start = b.r.now(), time.Now()
	b.cmds = queueScripts(b.cmdBuf[:0:batchInline], ctx, pipe, "evalsha", gcraSHAArg, opTake, b.reqs, b.keys, nil)
	b.state = batchQueued
}

// Finish reads the replies of the pipeline Queue's commands went in and
// returns the results and error Allow would return for the requests:
// see Limiter.Allow. ctx is the caller's (not the pipeline's): a round
// trip cut short by it does not count against Redis in the breaker. It
// may make more round trips, as Allow does: EVAL on a node that lacked
// the script, and the refund of zones that admitted a request another
// zone refused. Calling it again returns the same.
func (b *Batch) Finish(ctx context.Context) ([]Result, error) {
	switch b.state {
	case batchReady:
		// Never queued (the caller's pipeline was not sent): nothing was
		// charged; each zone's OnError decides, as for a failed round trip.
		b.state = batchFinished
		b.releaseProbe()
		onErrorResults(b.reqs, b.out)
		b.err = fmt.Errorf("%w: the rate-limit scripts were not sent", ErrUnavailable)
		return b.out, b.err
	case batchQueued:
	default:
		return b.out, b.err
	}
	b.state = batchFinished
	r := b.r
	r.obs.redisLatency(time.Since(b.start))
	replies := grow(b.replyBuf[:0:batchInline], len(b.reqs))
	collect(b.cmds, nil, replies)
	var missing []int
	for i := range replies {
		if noScript(replies[i].err) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		// Not run there, so safe to send again, as EVAL.
		rctx, cancel := context.WithTimeout(ctx, r.timeout)
		r.pipeline(rctx, "eval", gcraScriptArg, opTake, b.reqs, b.keys, missing, replies)
		cancel()
	}
	var err error
	for i := range replies {
		if replies[i].err != nil {
			err = replies[i].err
			break
		}
	}
	r.record(ctx, err)
	b.releaseProbe() // not recorded: the caller went away
	out := b.out
	for i := range b.reqs {
		if replies[i].err != nil {
			out[i] = onErrorResult(&b.reqs[i])
			continue
		}
		out[i] = replies[i].cell.result(&b.reqs[i], b.reqs[i].quota(), time.Microsecond)
		r.deny.refuse(b.keys[i], &b.reqs[i], &out[i], b.sent)
	}
	if !Allowed(out) {
		r.refund(ctx, b.reqs, b.keys, out)
	}
	r.obs.refused(out)
	switch {
	case err == nil:
	case callerDone(ctx):
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		b.err = fmt.Errorf("%w: %w: %w", ErrUnavailable, cause, err)
	default:
		b.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, b.err
}

// Refund gives back what a finished batch charged, for a request every
// zone admitted but that was then refused elsewhere (or not made): one
// round trip, the refund script for each bucket Redis charged (a zone
// whose script failed charged nothing). It does nothing, and makes no
// round trip, for a batch that charged nothing: decided without Redis,
// refused by a zone (Finish refunded the others already), or refunded
// before; nor while the circuit breaker is not closed (the charge then
// stays, as when the refund fails: its error is returned).
func (b *Batch) Refund(ctx context.Context) error {
	if b.state != batchFinished {
		return nil
	}
	b.state = batchRefunded
	if !Allowed(b.out) || b.r.breaker.State() != StateClosed {
		return nil
	}
	var idx []int
	for i := range b.out {
		if b.out[i].Source == SourceStore {
			idx = append(idx, i)
		}
	}
	return b.refundAt(ctx, idx)
}

// refundAt runs the refund script for the buckets at idx (none: no
// round trip), records the round trip's outcome and clears the deny
// cache's refusals of those buckets.
func (b *Batch) refundAt(ctx context.Context, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	_, err := b.r.run(ctx, opRefund, b.reqs, b.keys, idx)
	b.r.record(ctx, err)
	b.forgetRefusals(idx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// forgetRefusals drops from the deny cache the buckets at idx, which a
// refund made emptier than a refusal the cache remembers (one another
// request met while this batch's charge was held), as Redis.refund does.
func (b *Batch) forgetRefusals(idx []int) {
	for _, i := range idx {
		b.r.deny.forget(b.keys[i])
	}
}

// Cancel ends a queued batch whose request was refused because another
// command of its pipeline failed (the session read: sessions fail closed
// before any limit applies). What Redis charged is refunded, and a
// failed round trip is not counted against Redis in the circuit breaker
// nor reported to the observer: without the batch the request would not
// have reached the limiter, and the breaker stays as it would have been.
// Its error is the refund's. For a batch not queued, Cancel only
// releases the breaker's probe if the batch holds it. After Cancel,
// Finish returns each zone's OnError verdict and Refund does nothing.
func (b *Batch) Cancel(ctx context.Context) error {
	defer b.releaseProbe() // the round trip says nothing about the limiter
	if b.state != batchQueued {
		return nil
	}
	b.state = batchRefunded
	replies := grow(b.replyBuf[:0:batchInline], len(b.reqs))
	collect(b.cmds, nil, replies)
	onErrorResults(b.reqs, b.out)
	b.err = fmt.Errorf("%w: the request was refused before its limits applied", ErrUnavailable)
	var idx []int
	for i := range replies {
		if replies[i].err == nil && replies[i].cell.allowed {
			idx = append(idx, i) // charged: a NOSCRIPT or failed script was not
		}
	}
	return b.refundAt(ctx, idx)
}

// Client returns the go-redis client the limiter runs on, so a caller
// can tell whether another component shares it (and its pipelines).
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Timeout returns the bound of one round trip (RedisOptions.Timeout),
// for a caller that sends a Batch's pipeline.
func (r *Redis) Timeout() time.Duration { return r.timeout }
