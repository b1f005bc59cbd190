package ratelimit

import "time"

// Observer receives events for metrics and logs. Every field is optional.
// The callbacks run synchronously on the request path (keep them fast,
// such as a counter increment) and concurrently (make them safe for that);
// they must not call back into the limiter.
//
// Zone names are safe metric labels; keys never reach an Observer.
type Observer struct {
	// OnRefused is called once for every Result that refuses a request,
	// with its zone and Source (store, deny_cache or on_error).
	OnRefused func(zone string, source Source)
	// OnRedisError is called once per failed Redis round trip (Redis only;
	// not when the circuit breaker short-circuits a request, and not when
	// the caller's context ended first).
	OnRedisError func(err error)
	// OnRedisLatency is called once per Redis round trip, successful or
	// not, with its duration (a NOSCRIPT reload and a refund count as
	// round trips of their own).
	OnRedisLatency func(d time.Duration)
	// OnStateChange is called once per circuit breaker transition (Redis
	// only), with the error that caused it (nil when closing). While Redis
	// stays down, Open -> HalfOpen -> Open repeats once per cooldown; a
	// log usually wants only transitions from and to StateClosed.
	OnStateChange func(from, to State, err error)
}

// refused reports the refusals among rs.
func (o *Observer) refused(rs []Result) {
	if o.OnRefused == nil {
		return
	}
	for i := range rs {
		if !rs[i].Allowed {
			o.OnRefused(rs[i].Zone, rs[i].Source)
		}
	}
}

// redisError reports a failed round trip.
func (o *Observer) redisError(err error) {
	if o.OnRedisError != nil {
		o.OnRedisError(err)
	}
}

// redisLatency reports the duration of a round trip.
func (o *Observer) redisLatency(d time.Duration) {
	if o.OnRedisLatency != nil {
		o.OnRedisLatency(d)
	}
}
