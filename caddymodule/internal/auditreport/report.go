package auditreport

import (
	"cmp"
	"slices"
	"time"
)

// Report is the summary of an audit log.
type Report struct {
	// From and To bound the window; From is zero without --since.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Lines read, Events counted, and lines left out: Skipped (not audit
	// events), Outside (before the window), Undated (no readable time,
	// with a window).
	Lines   int `json:"lines"`
	Events  int `json:"events"`
	Skipped int `json:"skipped"`
	Outside int `json:"outside_window"`
	Undated int `json:"undated"`
	// Decisions counts decision events by result and reason.
	Decisions []DecisionCount `json:"decisions"`
	// Kinds counts every event by kind and result.
	Kinds []KindCount `json:"events_by_kind"`
	// DeniedSubjects are the subjects with the most denials.
	DeniedSubjects []SubjectCount `json:"top_denied_subjects"`
	// ExpiringKeys are the API keys reported as expiring (latest report
	// of each key).
	ExpiringKeys []ExpiringKey `json:"keys_expiring"`
	// Throttled are the client addresses locked out or rate limited most.
	Throttled []AddressCount `json:"throttled_addresses"`
}

// DecisionCount is the number of decisions with one result and reason.
type DecisionCount struct {
	Result string `json:"result"`
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// KindCount is the number of events of one kind and result.
type KindCount struct {
	Event  string `json:"event"`
	Result string `json:"result"`
	Count  int    `json:"count"`
}

// SubjectCount is how often a subject was denied, and why.
type SubjectCount struct {
	Subject string         `json:"subject"`
	Denied  int            `json:"denied"`
	Reasons map[string]int `json:"reasons"`
}

// ExpiringKey is an API key that the gateway reported as expiring.
type ExpiringKey struct {
	KeyID    string    `json:"key_id"`
	Subject  string    `json:"subject,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	DaysLeft int       `json:"days_left"`
	// Seen is when it was last reported.
	Seen time.Time `json:"last_reported,omitzero"`
}

// AddressCount is how often a client address was throttled: locked out
// after failures (wrong keys, bad tokens), refused while locked out, or
// refused by a rate limit.
type AddressCount struct {
	ClientIP string `json:"client_ip"`
	// Lockouts counts lockout_started events.
	Lockouts int `json:"lockouts"`
	// Throttled counts requests refused while locked out.
	Throttled int `json:"throttled"`
	// RateLimited counts requests refused by a rate-limit zone.
	RateLimited int `json:"rate_limited"`
	// Total is Throttled + RateLimited: the requests refused.
	Total int `json:"total"`
}

// throttledReasons are the reasons of refusals of a locked-out address
// (too_many_failures: before the failures block named them).
var throttledReasons = []string{"api_key_throttled", "token_throttled", "too_many_failures"}

// tally is what Builder counts as it reads.
type tally struct {
	lines, events, skipped, outside, undated int
	decisions                                map[[2]string]int
	kinds                                    map[[2]string]int
	denied                                   map[string]*SubjectCount
	keys                                     map[string]*ExpiringKey
	throttled                                map[string]*AddressCount
}

func newTally() tally {
	return tally{
		decisions: map[[2]string]int{}, kinds: map[[2]string]int{}, denied: map[string]*SubjectCount{},
		keys: map[string]*ExpiringKey{}, throttled: map[string]*AddressCount{},
	}
}

// count adds one audit event in the window.
func (t *tally) count(l line, at time.Time) {
	t.events++
	t.kinds[[2]string{l.Event, l.Result}]++
	if l.Event == "decision" {
		t.decisions[[2]string{l.Result, l.Reason}]++
	}
	if l.Result == "deny" && l.Subject != "" {
		s := t.denied[l.Subject]
		if s == nil {
			s = &SubjectCount{Subject: l.Subject, Reasons: map[string]int{}}
			t.denied[l.Subject] = s
		}
		s.Denied++
		s.Reasons[l.Reason]++
	}
	if l.Event == "api_key_expiring" && l.KeyID != "" {
		k := t.keys[l.KeyID]
		if k == nil || !at.Before(k.Seen) {
			exp, _ := parseTime(l.Expires)
			days := 0
			if l.DaysLeft != nil {
				days = *l.DaysLeft
			}
			t.keys[l.KeyID] = &ExpiringKey{KeyID: l.KeyID, Subject: l.Subject, Expires: exp, DaysLeft: days, Seen: at}
		}
	}
	lockout := l.Event == "lockout_started"
	throttled := l.Event == "decision" && l.Result == "deny" && slices.Contains(throttledReasons, l.Reason)
	limited := l.Event == "rate_limited"
	if (lockout || throttled || limited) && l.ClientIP != "" {
		a := t.throttled[l.ClientIP]
		if a == nil {
			a = &AddressCount{ClientIP: l.ClientIP}
			t.throttled[l.ClientIP] = a
		}
		switch {
		case lockout:
			a.Lockouts++
		case throttled:
			a.Throttled++
			a.Total++
		default:
			a.RateLimited++
			a.Total++
		}
	}
}

// Report returns the summary of what was read.
func (b *Builder) Report() Report {
	r := Report{
		From: b.from, Lines: b.lines, Events: b.events, Skipped: b.skipped, Outside: b.outside, Undated: b.undated,
		Decisions: []DecisionCount{}, Kinds: []KindCount{}, DeniedSubjects: []SubjectCount{},
		ExpiringKeys: []ExpiringKey{}, Throttled: []AddressCount{},
	}
	if b.o.Since > 0 {
		r.To = b.o.Now
	}
	for k, n := range b.decisions {
		r.Decisions = append(r.Decisions, DecisionCount{Result: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(r.Decisions, func(x, y DecisionCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Result, y.Result), cmp.Compare(x.Reason, y.Reason))
	})
	for k, n := range b.kinds {
		r.Kinds = append(r.Kinds, KindCount{Event: k[0], Result: k[1], Count: n})
	}
	slices.SortFunc(r.Kinds, func(x, y KindCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Event, y.Event), cmp.Compare(x.Result, y.Result))
	})
	for _, s := range b.denied {
		r.DeniedSubjects = append(r.DeniedSubjects, *s)
	}
	slices.SortFunc(r.DeniedSubjects, func(x, y SubjectCount) int {
		return cmp.Or(cmp.Compare(y.Denied, x.Denied), cmp.Compare(x.Subject, y.Subject))
	})
	r.DeniedSubjects = r.DeniedSubjects[:min(len(r.DeniedSubjects), b.o.Top)]
	for _, k := range b.keys {
		r.ExpiringKeys = append(r.ExpiringKeys, *k)
	}
	slices.SortFunc(r.ExpiringKeys, func(x, y ExpiringKey) int {
		return cmp.Or(x.Expires.Compare(y.Expires), cmp.Compare(x.KeyID, y.KeyID))
	})
	for _, a := range b.throttled {
		r.Throttled = append(r.Throttled, *a)
	}
	slices.SortFunc(r.Throttled, func(x, y AddressCount) int {
		return cmp.Or(cmp.Compare(y.Total, x.Total), cmp.Compare(y.Lockouts, x.Lockouts), cmp.Compare(x.ClientIP, y.ClientIP))
	})
	r.Throttled = r.Throttled[:min(len(r.Throttled), b.o.Top)]
	return r
}
