package caddymodule

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// decisionSeries caches the series of the most common decisions (allowed
// or anonymous, per authentication method) and the duration observer of
// each method, so the request path does not hash label values (the
// vectors' WithLabelValues) for them. Series are created on first use,
// as WithLabelValues would, so /metrics lists only what happened.
type decisionSeries struct {
	allowed   [len(methodLabels)][2]atomic.Pointer[prometheus.Counter]
	durations [len(methodLabels)]atomic.Pointer[prometheus.Observer]
}

// methodLabels are the auth_method label values, by methodIndex.
var methodLabels = [...]string{"none", string(principal.MethodAPIKey), string(principal.MethodJWT), string(principal.MethodSession)}

// methodIndex is method's index in methodLabels, or -1.
func methodIndex(method string) int {
	switch method {
	case "none":
		return 0
	case string(principal.MethodAPIKey):
		return 1
	case string(principal.MethodJWT):
		return 2
	case string(principal.MethodSession):
		return 3
	}
	return -1
}

// countDecision counts a decision (result, reason, method) and observes
// how long it took since start.
func (m *metrics) countDecision(ev *audit.Event, start time.Time) {
	method := ev.AuthMethod
	if method == "" {
		method = "none"
	}
	i := methodIndex(method)
	if c := m.allowedCounter(i, ev); c != nil {
		c.Inc()
	} else {
		m.decisions.WithLabelValues(string(ev.Result), ev.Reason, method).Inc()
	}
	m.durationObserver(i, method).Observe(time.Since(start).Seconds())
}

// allowedCounter returns the cached counter of an allowed or anonymous
// decision by the method at index i, or nil for any other decision (and
// for a method without an index).
func (m *metrics) allowedCounter(i int, ev *audit.Event) prometheus.Counter {
	if i < 0 || ev.Result != audit.Allow {
		return nil
	}
	j := 0
	switch ev.Reason {
	case string(policy.ReasonAllowed):
	case string(policy.ReasonAnonymous):
		j = 1
	default:
		return nil
	}
	slot := &m.series.allowed[i][j]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := m.decisions.WithLabelValues(string(audit.Allow), ev.Reason, methodLabels[i])
	slot.Store(&c)
	return c
}

// durationObserver returns the duration observer of method, cached when
// it has an index i.
func (m *metrics) durationObserver(i int, method string) prometheus.Observer {
	if i < 0 {
		return m.authDuration.WithLabelValues(method)
	}
	slot := &m.series.durations[i]
	if o := slot.Load(); o != nil {
		return *o
	}
	o := m.authDuration.WithLabelValues(methodLabels[i])
	slot.Store(&o)
	return o
}
