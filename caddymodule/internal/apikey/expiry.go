package apikey

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLifetime means a key would live longer than the configured maximum
// lifetime, or would never expire while a maximum is configured.
var ErrLifetime = errors.New("apikey: key lifetime exceeds max_lifetime")

// LifetimePolicy caps how long keys may live and says when a key is
// close enough to its expiry that its users must be warned.
type LifetimePolicy struct {
	// MaxLifetime is the longest a key may be valid for, counted from
	// its creation (stored keys) or from when the configuration is
	// loaded (static keys). Zero: no cap. With a cap, every key MUST
	// have an expiry.
	MaxLifetime time.Duration
	// WarnBefore is how long before its expiry a key is "expiring":
	// answers to it carry Deprecation and Sunset headers, it is audited
	// once a day and listed as expiring. Zero: no warnings.
	WarnBefore time.Duration
}

// Validate checks the policy: no negative durations, and a warning
// window shorter than the maximum lifetime (else every key would be
// expiring from its first day).
func (p LifetimePolicy) Validate() error {
	if p.MaxLifetime < 0 || p.WarnBefore < 0 {
		return errors.New("apikey: max_lifetime and warn_before must not be negative")
	}
	if p.MaxLifetime > 0 && p.WarnBefore >= p.MaxLifetime {
		return fmt.Errorf("apikey: warn_before %s must be shorter than max_lifetime %s", FormatDays(p.WarnBefore), FormatDays(p.MaxLifetime))
	}
	return nil
}

// CheckExpiry checks a key expiring at expires (zero: never) and valid
// from from against MaxLifetime. The error wraps ErrLifetime.
func (p LifetimePolicy) CheckExpiry(expires, from time.Time) error {
	if p.MaxLifetime <= 0 {
		return nil
	}
	if expires.IsZero() {
		return fmt.Errorf("%w: a key must expire within %s", ErrLifetime, FormatDays(p.MaxLifetime))
	}
	if expires.Sub(from) > p.MaxLifetime {
		return fmt.Errorf("%w: expiry %s is more than %s away (latest allowed: %s)", ErrLifetime,
			expires.UTC().Format(time.RFC3339), FormatDays(p.MaxLifetime), from.Add(p.MaxLifetime).UTC().Format(time.RFC3339))
	}
	return nil
}

// WarningStart is when the warning window of a key expiring at expires
// begins; zero when the key never expires or warnings are off.
func (p LifetimePolicy) WarningStart(expires time.Time) time.Time {
	if expires.IsZero() || p.WarnBefore <= 0 {
		return time.Time{}
	}
	return expires.Add(-p.WarnBefore)
}

// Expiring reports whether a key expiring at expires is inside its
// warning window at now (and not yet expired).
func (p LifetimePolicy) Expiring(expires, now time.Time) bool {
	start := p.WarningStart(expires)
	return !start.IsZero() && !now.Before(start) && now.Before(expires)
}

// Expiry buckets: the label values of the keys-by-days-left gauge, a
// fixed set so the metric's cardinality stays bounded.
const (
	BucketExpired   = "expired"
	BucketUnder1d   = "lt_1d"
	BucketUnder7d   = "lt_7d"
	BucketInWarning = "warning"
	BucketOK        = "ok"
	BucketNever     = "never"
)

// Buckets lists every bucket, in order of urgency.
var Buckets = []string{BucketExpired, BucketUnder1d, BucketUnder7d, BucketInWarning, BucketOK, BucketNever}

// Bucket returns which expiry bucket a key expiring at expires is in at
// now: expired, less than a day, less than 7 days, inside the warning
// window, further out, or never expiring. A key inside the warning
// window with less than 7 (or 1) days left is counted in the shorter
// bucket.
func (p LifetimePolicy) Bucket(expires, now time.Time) string {
	if expires.IsZero() {
		return BucketNever
	}
	left := expires.Sub(now)
	switch {
	case left <= 0:
		return BucketExpired
	case left < 24*time.Hour:
		return BucketUnder1d
	case left < 7*24*time.Hour:
		return BucketUnder7d
	case p.Expiring(expires, now):
		return BucketInWarning
	}
	return BucketOK
}

// FormatDays writes a duration of whole days as "90d", others as Go does.
func FormatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// DefaultWarnerSize bounds the key ids a Warner remembers.
const DefaultWarnerSize = 10000

// Warner remembers, per key id, the last UTC day a warning was given,
// so that a key is reported as expiring at most once a day per process.
// It holds at most its size of ids; when full it forgets them all (a key
// may then be reported twice in a day, never an unbounded memory). It is
// safe for concurrent use.
type Warner struct {
	mu   sync.Mutex
	max  int
	last map[string]int64 // id → UTC day number
}

// NewWarner returns a Warner remembering at most size ids (at least 1;
// zero or less: DefaultWarnerSize).
func NewWarner(size int) *Warner {
	if size <= 0 {
		size = DefaultWarnerSize
	}
	return &Warner{max: size, last: make(map[string]int64)}
}

// Due reports whether key id has not been warned about yet on now's UTC
// day, and records that it now has.
func (w *Warner) Due(id string, now time.Time) bool {
	day := now.Unix() / 86400
	if now.Unix() < 0 {
		day = (now.Unix() - 86399) / 86400
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, ok := w.last[id]; ok && d == day {
		return false
	}
	if _, ok := w.last[id]; !ok && len(w.last) >= w.max {
		clear(w.last)
	}
	w.last[id] = day
	return true
}

// Len returns how many ids the Warner remembers.
func (w *Warner) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.last)
}

// Expiries returns the expiry of every key of the set (zero: never).
func (s *Set) Expiries() []time.Time {
	out := make([]time.Time, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.rec.Expires)
	}
	return out
}
