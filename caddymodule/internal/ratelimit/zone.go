package ratelimit

import (
	"fmt"
	"regexp"
)

var zoneName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// DefaultKey is the key template of a zone that names none: the
// authenticated user, falling back to the client IP.
const DefaultKey = "{http.auth.user.id}"

// Zone is a named limit declared once and applied by routes.
type Zone struct {
	// Name identifies the zone in route configuration.
	Name string
	// Rate is the sustained rate.
	Rate Rate
	// Burst is how many events may exceed the sustained rate at once: a
	// key that has been idle long enough is admitted Burst+1 events at
	// once, then one per Rate.Interval(). Default 0 (evenly spaced events,
	// none early); see Quota.
	Burst int
	// Key is the template that selects the bucket (placeholders).
	Key string
	// OnError says what a limiter that cannot reach its store answers for
	// this zone: OnErrorDeny (the default, also for "") or OnErrorAllow.
	OnError OnError
}

// OnError is a zone's verdict while the limiter's store is unavailable.
type OnError string

const (
	// OnErrorDeny refuses requests while the store is unavailable (fail
	// closed). It is the default.
	OnErrorDeny OnError = "deny"
	// OnErrorAllow admits requests while the store is unavailable (fail
	// open), unlimited.
	OnErrorAllow OnError = "allow"
)

// allows reports whether the verdict admits requests; "" means deny.
func (o OnError) allows() bool { return o == OnErrorAllow }

// Quota returns the zone's rate and burst.
func (z Zone) Quota() Quota { return Quota{Rate: z.Rate, Burst: z.Burst} }

// ValidateZoneName reports whether n can name a zone: lowercase letters,
// digits, '_' and '-', starting with a letter, at most 64 characters.
func ValidateZoneName(n string) error {
	if !zoneName.MatchString(n) {
		return fmt.Errorf("ratelimit: zone name %q must be lowercase letters, digits, '_' or '-', starting with a letter", n)
	}
	if n == KeyZone {
		return fmt.Errorf("ratelimit: zone name %q is reserved for API keys' own limits", n)
	}
	return nil
}

// Validate checks a zone's fields.
func (z Zone) Validate() error {
	if err := ValidateZoneName(z.Name); err != nil {
		return err
	}
	if z.Rate.Count < 1 || z.Rate.Period < 1 {
		return fmt.Errorf("ratelimit: zone %q has no rate", z.Name)
	}
	if z.Burst < 0 {
		return fmt.Errorf("ratelimit: zone %q: burst must not be negative", z.Name)
	}
	if err := z.Quota().check(); err != nil {
		return fmt.Errorf("ratelimit: zone %q: %w", z.Name, err)
	}
	switch z.OnError {
	case "", OnErrorDeny, OnErrorAllow:
	default:
		return fmt.Errorf("ratelimit: zone %q: on_error must be %q or %q, not %q", z.Name, OnErrorAllow, OnErrorDeny, z.OnError)
	}
	return nil
}
