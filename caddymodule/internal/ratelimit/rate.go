// Package ratelimit holds the rate-limit model: rates, zones and the
// generic cell rate algorithm that enforces them.
package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a number of events allowed per period, e.g. 100 per minute.
type Rate struct {
	// Count is the number of events per Period; at least 1.
	Count int
	// Period is the window the count refers to; at least 1 ms.
	Period time.Duration
}

// ParseRate reads "<count>/<period>", where period is a Go duration
// ("1m", "30s", "1h") or a bare unit ("s", "m", "h", "d" for a day):
// "100/1m", "10/s", "5000/d".
func ParseRate(s string) (Rate, error) {
	countStr, periodStr, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("ratelimit: rate %q must look like 100/1m", s)
	}
	count, err := strconv.Atoi(countStr)
	if err != nil || count < 1 {
		return Rate{}, fmt.Errorf("ratelimit: rate %q: count must be a positive integer", s)
	}
	period, err := parsePeriod(periodStr)
	if err != nil {
		return Rate{}, fmt.Errorf("ratelimit: rate %q: %w", s, err)
	}
	return Rate{Count: count, Period: period}, nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "m":
		return time.Minute, nil
	case "h":
		return time.Hour, nil
	case "d":
		return 24 * time.Hour, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("period %q is not a duration like 1m", s)
	}
	if d < time.Millisecond {
		return 0, fmt.Errorf("period %q must be at least 1ms", s)
	}
	return d, nil
}

// String formats r as ParseRate reads it.
func (r Rate) String() string {
	return strconv.Itoa(r.Count) + "/" + r.Period.String()
}

// Interval is the emission interval: the time one event "costs".
func (r Rate) Interval() time.Duration {
	return r.Period / time.Duration(r.Count)
}
