package ratelimit

import (
	"fmt"
	"time"
)

// Quota is the limit one bucket enforces: a sustained rate and a burst.
//
// Limiters enforce it with GCRA, the generic cell rate algorithm (ITU-T
// I.371; the "virtual scheduling" form), which keeps one number per key:
// the theoretical arrival time (TAT), the time at which the key's bucket
// would be full again. An event of cost c at time now is admitted when
//
//	max(TAT, now) + c×Interval <= now + (Burst+1)×Interval
//
// and then moves TAT to the left-hand side; a refused event changes
// nothing. So:
//
//   - a key idle for at least Window() is admitted Burst+1 cost-1 events
//     at once (Capacity), then one per Interval: 100/10s with burst 10
//     admits 11 at once, then 10 per second;
//   - from any moment on, a key is admitted at most
//     Capacity + floor(elapsed/Interval) events within elapsed;
//   - burst 0 spaces events evenly, one per Interval, none early.
type Quota struct {
	// Rate is the sustained rate (see Rate.Interval).
	Rate Rate
	// Burst is how many events may exceed the sustained rate at once;
	// at least 0. The bucket holds Burst+1 events.
	Burst int
}

// Limits of a Quota that Validate and every limiter enforce.
const (
	// minInterval is the shortest emission interval: Redis time has
	// microsecond resolution, so at most 1,000,000 events per second.
	minInterval = time.Microsecond
	// maxWindow bounds (Burst+1)×Interval so that no time computation
	// overflows (about 100 years).
	maxWindow = 100 * 365 * 24 * time.Hour
)

// Capacity is the number of cost-1 events a full bucket admits at once:
// Burst+1.
func (q Quota) Capacity() int { return q.Burst + 1 }

// Window is the time an empty bucket takes to fill again:
// Capacity × Rate.Interval().
func (q Quota) Window() time.Duration {
	return time.Duration(q.Capacity()) * q.Rate.Interval()
}

// String formats q as "100/1m0s burst 20".
func (q Quota) String() string {
	return fmt.Sprintf("%s burst %d", q.Rate, q.Burst)
}

// Validate reports whether limiters can enforce q: a rate of at most one
// event per microsecond, a burst of at least 0, and (Burst+1)×Interval of
// at most about 100 years. Check an Override (such as an API key's own
// limit) with it when it is configured: Allow refuses a request whose
// quota does not validate.
func (q Quota) Validate() error {
	if err := q.check(); err != nil {
		return fmt.Errorf("ratelimit: quota %s: %w", q, err)
	}
	return nil
}

// check reports why q cannot be enforced.
func (q Quota) check() error {
	switch {
	case q.Rate.Count < 1 || q.Rate.Period < 1:
		return fmt.Errorf("no rate")
	case q.Rate.Interval() < minInterval:
		return fmt.Errorf("rate %s is above the maximum of one event per microsecond", q.Rate)
	case q.Burst < 0:
		return fmt.Errorf("burst %d is negative", q.Burst)
	case int64(q.Burst) >= int64(maxWindow/q.Rate.Interval()):
		return fmt.Errorf("burst %d at %s spans more than 100 years", q.Burst, q.Rate)
	}
	return nil
}

// cell is one GCRA decision in integer time units (nanoseconds in memory,
// microseconds in Redis, where the same arithmetic runs in Lua).
type cell struct {
	allowed    bool
	tat        int64 // the TAT to store (unchanged when refused)
	remaining  int64 // cost-1 events still admitted at once afterwards
	retryAfter int64 // until the same event would be admitted; 0 if allowed
	resetAfter int64 // until the bucket is full again
}

// gcra decides an event of cost at now for a key whose stored TAT is tat
// (0 or any past time for a full bucket), with the emission interval and
// the capacity (Burst+1). All times share one unit. Cost 0 reads the bucket
// without changing it.
func gcra(tat, now, interval, capacity, cost int64) cell {
	tat = max(tat, now)
	limit := now + capacity*interval
	next := tat + cost*interval
	if next > limit {
		return cell{
			tat:        tat,
			remaining:  max(limit-tat, 0) / interval,
			retryAfter: next - limit,
			resetAfter: tat - now,
		}
	}
	return cell{
		allowed:    true,
		tat:        next,
		remaining:  (limit - next) / interval,
		resetAfter: next - now,
	}
}

// result turns a cell in units of unit into the Result of req.
func (c cell) result(req *Request, q Quota, unit time.Duration) Result {
	return Result{
		Zone:       req.Zone.Name,
		Quota:      q,
		Allowed:    c.allowed,
		Source:     SourceStore,
		Limit:      q.Capacity(),
		Remaining:  int(c.remaining),
		RetryAfter: time.Duration(c.retryAfter) * unit,
		ResetAfter: time.Duration(c.resetAfter) * unit,
	}
}
