package lockout

import "time"

// record is one client's counters. The Redis script (lockout.lua) keeps
// the same fields and applies the same rules, in milliseconds.
type record struct {
	// failures counted in the window that began at windowStart.
	failures    int
	windowStart time.Time
	// lockedUntil is when the current or last lockout ends; zero if none.
	lockedUntil time.Time
	// strike numbers the last lockout in its series of consecutive ones.
	strike int
}

// status is r's standing at now.
func (r record) status(now time.Time) Status {
	s := Status{Strike: r.strike}
	if now.Before(r.lockedUntil) {
		s.Locked = r.lockedUntil.Sub(now)
	}
	return s
}

// fail records a failure at now under p and returns the new record and
// the standing after it.
func (r record) fail(now time.Time, p Policy) (record, Status) {
	if now.Before(r.lockedUntil) {
		return r, r.status(now)
	}
	if r.failures == 0 || !now.Before(r.windowStart.Add(p.Window)) {
		r.failures, r.windowStart = 0, now
	}
	r.failures++
	if r.failures < p.Limit {
		return r, Status{Strike: r.strike}
	}
	if r.strike > 0 && !now.Before(r.lockedUntil.Add(p.memory())) {
		r.strike = 0 // the last lockout is too long ago: a new series
	}
	r.strike = min(r.strike+1, maxStrikes)
	d := p.duration(r.strike)
	r.lockedUntil, r.failures, r.windowStart = now.Add(d), 0, now
	return r, Status{Locked: d, Started: true, Strike: r.strike}
}

// expires is when r stops mattering under p: its window is over and so
// is the memory of its last lockout.
func (r record) expires(p Policy) time.Time {
	end := r.windowStart.Add(p.Window)
	if !r.lockedUntil.IsZero() {
		if t := r.lockedUntil.Add(p.memory()); t.After(end) {
			end = t
		}
	}
	return end
}
