package caddymodule

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors, registered on Caddy's
// metrics registry (served where Caddy serves /metrics). Labels take
// values from small fixed sets or from the configuration (zone names):
// never user ids, key ids or paths, so cardinality stays bounded.
type metrics struct {
	decisions     *prometheus.CounterVec   // result, reason, auth_method
	authDuration  *prometheus.HistogramVec // auth_method
	rateLimited   *prometheus.CounterVec   // zone
	storeErrors   *prometheus.CounterVec   // component
	storeDuration *prometheus.HistogramVec // component
	fetches       *prometheus.CounterVec   // kind (jwks, discovery), result
	refreshes     *prometheus.CounterVec   // result
	// providerProblems counts problems with the identity provider as
	// they start or change cause (component, reason); revocations counts
	// RFC 7009 revocations at logout (result).
	providerProblems *prometheus.CounterVec
	revocations      *prometheus.CounterVec
	// keyExpiry is the portcullis_api_keys gauge (expiry bucket).
	keyExpiry *keyExpiryCollector
	// vault counts the credential vault's events (upstream, event, result).
	vault *prometheus.CounterVec
	// series caches the most common decisions' series.
	series decisionSeries
}

const metricsNamespace = "portcullis"

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "decisions_total",
			Help: "Authorization decisions by result, reason and authentication method.",
		}, []string{"result", "reason", "auth_method"}),
		authDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "auth_duration_seconds",
			Help:    "Time spent authenticating and authorizing a request.",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5},
		}, []string{"auth_method"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "rate_limited_total",
			Help: "Requests refused by a rate-limit zone.",
		}, []string{"zone"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "store_errors_total",
			Help: "Failed calls to the shared store (Redis), by component.",
		}, []string{"component"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "store_duration_seconds",
			Help:    "Latency of calls to the shared store (Redis), by component.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}, []string{"component"}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "idp_fetches_total",
			Help: "Fetches of JWKS and OpenID discovery documents, by kind and result.",
		}, []string{"kind", "result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "token_refreshes_total",
			Help: "Refreshes of identity-provider tokens, by result.",
		}, []string{"result"}),
		providerProblems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "idp_problems_total",
			Help: "Problems reaching or trusting the identity provider, counted when one starts or its cause changes, by component and reason.",
		}, []string{"component", "reason"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "token_revocations_total",
			Help: "Revocations of identity-provider tokens at logout (RFC 7009), by result (revoked, skipped, error).",
		}, []string{"result"}),
		keyExpiry: newKeyExpiryCollector(),
		vault:     newVaultCounter(),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.authDuration, m.rateLimited, m.storeErrors, m.storeDuration, m.fetches, m.refreshes, m.providerProblems, m.revocations, m.keyExpiry, m.vault} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return m, nil
}
