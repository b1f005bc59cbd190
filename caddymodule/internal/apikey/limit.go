package apikey

import (
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// OwnQuota checks a key's own rate limit, "<count>/<period>" with a
// burst, and returns it as a quota; nil, nil when the key has none (rate
// empty). A burst without a rate, a rate that does not parse and a quota
// no limiter can enforce are errors.
func OwnQuota(rate string, burst int) (*ratelimit.Quota, error) {
	if rate == "" {
		if burst != 0 {
			return nil, errors.New("apikey: a burst needs a rate limit (e.g. 100/1m)")
		}
		return nil, nil
	}
	r, err := ratelimit.ParseRate(rate)
	if err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	q := ratelimit.Quota{Rate: r, Burst: burst}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	return &q, nil
}

// FormatLimit writes a key's own rate limit as the CLI and the
// Caddyfile spell it ("100/1m burst 20", "100/1m"), or "" for none.
func FormatLimit(rate string, burst int) string {
	switch {
	case rate == "":
		return ""
	case burst == 0:
		return rate
	}
	return fmt.Sprintf("%s burst %d", rate, burst)
}
