package caddymodule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
)

// Bounds of the stored-key listing the expiry gauge makes.
const (
	// expiryListEvery is how often, at most, a scrape lists the stored
	// keys; scrapes in between reuse the last listing.
	expiryListEvery = time.Minute
	// expiryListTimeout bounds one listing.
	expiryListTimeout = 2 * time.Second
)

// keyExpiryCollector is the portcullis_api_keys gauge: keys (static and
// stored) by expiry bucket (expired, lt_1d, lt_7d, warning, ok, never).
// It is computed at scrape time; stored keys are listed from the store
// at most once per expiryListEvery, with a bounded wait, and the last
// listing is kept when the store cannot be read.
type keyExpiryCollector struct {
	desc *prometheus.Desc

	mu       sync.Mutex
	policy   apikey.LifetimePolicy
	static   *apikey.Set
	registry *apikey.Registry
	now      func() time.Time
	listed   time.Time   // when stored was last listed
	stored   []time.Time // expiries of the stored keys at that time
	onError  func()
}

func newKeyExpiryCollector() *keyExpiryCollector {
	return &keyExpiryCollector{
		desc: prometheus.NewDesc(metricsNamespace+"_api_keys", "API keys (static and stored) by expiry bucket: expired, lt_1d, lt_7d, warning (inside warn_before), ok, never.",
			[]string{"expiry"}, nil),
		now: time.Now,
	}
}

// watch sets the keys the gauge counts.
func (c *keyExpiryCollector) watch(p apikey.LifetimePolicy, static *apikey.Set, reg *apikey.Registry, onError func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policy, c.static, c.registry, c.onError = p, static, reg, onError
	c.listed, c.stored = time.Time{}, nil
}

// Describe implements prometheus.Collector.
func (c *keyExpiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *keyExpiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	counts := make(map[string]int, len(apikey.Buckets))
	if c.static != nil {
		for _, e := range c.static.Expiries() {
			counts[c.policy.Bucket(e, now)]++
		}
	}
	c.refreshStored(now)
	for _, e := range c.stored {
		counts[c.policy.Bucket(e, now)]++
	}
	for _, b := range apikey.Buckets {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[b]), b)
	}
}

// refreshStored lists the stored keys when the last listing is old.
// Revoked and rotated-out keys are not counted: they no longer work.
func (c *keyExpiryCollector) refreshStored(now time.Time) {
	if c.registry == nil || (!c.listed.IsZero() && now.Sub(c.listed) < expiryListEvery) {
		return
	}
	c.listed = now
	ctx, cancel := context.WithTimeout(context.Background(), expiryListTimeout)
	defer cancel()
	recs, err := c.registry.List(ctx, "")
	if errors.Is(err, apikey.ErrNoStore) {
		return
	}
	if err != nil {
		if c.onError != nil {
			c.onError()
		}
		return
	}
	c.stored = c.stored[:0]
	for _, r := range recs {
		if r.Revoked || (r.ReplacedBy != "" && !now.Before(r.GraceUntil)) {
			continue
		}
		c.stored = append(c.stored, r.Expires)
	}
}
