package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// An API key's own limit (`rate_limit 100/1m burst 20` on a static key,
// `--rate-limit 100/1m --burst 20` on a stored one) is one more bucket
// in the limit step: zone ratelimit.KeyZone, keyed by the key id (never
// the secret), decided in the same round trip as the route's zones, so
// it is exact across replicas with Redis. It applies on every route that
// accepts the key, with or without zones of its own.

// reasonKeyRateLimited is the audit reason of a request refused by its
// API key's own limit (the zone label of rate_limited_total is
// ratelimit.KeyZone).
const reasonKeyRateLimited = "api_key_rate_limited"

// keyLimitedVar marks a request whose key's own limit was charged, so a
// second portcullis handler of the same request does not charge it again.
const keyLimitedVar = "portcullis.key_limited"

// withOwnLimit checks a static key's own limit and adds it to its record.
func (k APIKeyConfig) withOwnLimit(rec apikey.Record) (apikey.Record, error) {
	if _, err := apikey.OwnQuota(k.RateLimit, k.Burst); err != nil {
		return apikey.Record{}, fmt.Errorf("api key %s: rate_limit: %w", k.ID, err)
	}
	rec.RateLimit, rec.RateBurst = k.RateLimit, k.Burst
	return rec, nil
}

// limitsKeys reports whether keys may have limits of their own: a
// static key declares one, or keys are stored (any may have one). The
// limiter is acquired then, even without zones.
func (a *App) limitsKeys() bool {
	if a.Store != nil {
		return true
	}
	if a.APIKeys != nil {
		for _, k := range a.APIKeys.Keys {
			if k.RateLimit != "" {
				return true
			}
		}
	}
	return false
}

// keyLimit returns the request for p's own bucket, when p is an API key
// with a limit of its own that this request has not been charged yet;
// it marks the request as charged.
func (h *Handler) keyLimit(r *http.Request, p principal.Principal) (ratelimit.Request, bool) {
	if p.Method != principal.MethodAPIKey || p.RateLimit == "" || h.app.limiter == nil || h.app.keyLimitsOff {
		return ratelimit.Request{}, false
	}
	if done, _ := caddyhttp.GetVar(r.Context(), keyLimitedVar).(bool); done {
		return ratelimit.Request{}, false
	}
	q, err := apikey.OwnQuota(p.RateLimit, p.RateBurst)
	if err != nil || q == nil {
		// Checked when the key was declared or created; a record written
		// otherwise gets the route's limits only.
		return ratelimit.Request{}, false
	}
	caddyhttp.SetVar(r.Context(), keyLimitedVar, true)
	return ratelimit.KeyRequest(p.KeyID, *q), true
}
