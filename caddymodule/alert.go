package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/alert"
)

// AlertConfig is one `alert webhook <url> { … }` of the global option:
// a receiver of security alerts. Alerts are audit events mapped to the
// names of `events` (login_failed, refresh_failed, api_key_throttled,
// token_throttled, reuse_detected, token_rejected, access_denied,
// rate_limited, unavailable), posted as CloudEvents 1.0 JSON batches
// (`application/cloudevents-batch+json`, type `dev.portcullis.<name>`)
// signed in the Standard Webhooks scheme: `Webhook-Id`,
// `Webhook-Timestamp` (Unix seconds) and `Webhook-Signature:
// v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. A full queue
// drops alerts (counted in portcullis_alerts_total{result="dropped"});
// a request never waits for a webhook.
type AlertConfig struct {
	// Webhook is the URL alerts are POSTed to: https, or http to a
	// loopback address. Required.
	Webhook string `json:"webhook,omitempty"`
	// Events names the alerts this webhook receives. Required.
	Events []string `json:"events,omitempty"`
	// Secret signs every delivery: a placeholder such as {env.X}; the
	// value holds one or more secrets separated by spaces or commas
	// (each signs: rotate by adding the new one first), each at least 24
	// bytes, or `whsec_<base64>` as Standard Webhooks libraries take it.
	// Required.
	Secret string `json:"secret,omitempty"`
	// Source is the CloudEvents source of the alerts. Default:
	// `urn:portcullis:<host name>`.
	Source string `json:"source,omitempty"`
	// BatchSize is the most alerts in one POST. Default: 100.
	BatchSize int `json:"batch_size,omitempty"`
	// FlushInterval is how long the first alert of a batch waits for
	// others. Default: 1s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
	// QueueSize bounds the alerts waiting to be sent; beyond it new
	// alerts are dropped. Default: 1000.
	QueueSize int `json:"queue_size,omitempty"`
	// MaxRetries is how often a batch is sent again after a network
	// error or a 408, 429 or 5xx answer, with backoff doubling from 1s
	// to 1m (or as Retry-After says); other answers are not retried.
	// Default: 5; -1: never.
	MaxRetries int `json:"max_retries,omitempty"`
	// Timeout bounds one POST. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// ShutdownTimeout bounds the flush of what is queued when the
	// configuration is stopped or reloaded. Default: 5s.
	ShutdownTimeout caddy.Duration `json:"shutdown_timeout,omitempty"`
}

// check checks what can be checked without the secret's value.
func (c *AlertConfig) check() error {
	if err := checkWebhookURL(c.Webhook); err != nil {
		return err
	}
	if _, err := alert.ParseSet(c.Events); err != nil {
		return fmt.Errorf("alert webhook: %w", err)
	}
	if c.Secret == "" {
		return errors.New("alert webhook: secret is missing; set `secret {env.…}` to a random value of at least 24 bytes")
	}
	switch {
	case c.BatchSize < 0, c.QueueSize < 0:
		return errors.New("alert webhook: batch_size and queue_size must not be negative")
	case c.MaxRetries < -1:
		return errors.New("alert webhook: max_retries must be -1 (never), 0 (the default) or more")
	case c.FlushInterval < 0, c.Timeout < 0, c.ShutdownTimeout < 0:
		return errors.New("alert webhook: durations must not be negative")
	}
	return nil
}

// checkWebhookURL accepts https URLs, and http ones to a loopback host.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("alert webhook: the URL must be absolute, like https://alerts.example.com/portcullis")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return errors.New("alert webhook: the URL must be https (http only to a loopback address)")
}

// webhookName names a webhook in logs: scheme and host only, since the
// path or query of a webhook URL often holds a token.
func webhookName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// provisionAlerts checks the alert blocks, resolves their secrets and
// starts their senders (goroutines only: nothing is dialled before an
// alert is sent).
func (a *App) provisionAlerts(ctx caddy.Context) error {
	counts, err := newAlertMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	if len(a.Alerts) == 0 {
		return nil
	}
	host, _ := os.Hostname()
	senders := make([]*alert.Sender, 0, len(a.Alerts))
	for i := range a.Alerts {
		s, err := a.alertSender(&a.Alerts[i], host, counts)
		if err != nil {
			return fmt.Errorf("alert webhook %d (%s): %w", i+1, webhookName(a.Alerts[i].Webhook), err)
		}
		senders = append(senders, s)
	}
	for _, r := range []alert.Result{alert.Sent, alert.Dropped, alert.Failed} {
		counts.WithLabelValues(string(r))
	}
	a.alerts = alert.NewDispatcher(nil, senders...)
	a.alerts.Start()
	return nil
}

// alertSender builds the sender of one alert block.
func (a *App) alertSender(c *AlertConfig, host string, counts *prometheus.CounterVec) (*alert.Sender, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	events, _ := alert.ParseSet(c.Events)
	keys, err := alertKeys(c.Secret)
	if err != nil {
		return nil, err
	}
	source := c.Source
	if source == "" {
		source = "urn:portcullis:" + strings.ToLower(host)
	}
	name := webhookName(c.Webhook)
	return alert.NewSender(alert.Options{
		URL: c.Webhook, Keys: keys, Source: source, Events: events,
		BatchSize: c.BatchSize, FlushInterval: time.Duration(c.FlushInterval), QueueSize: c.QueueSize,
		MaxRetries: c.MaxRetries, Timeout: time.Duration(c.Timeout), ShutdownTimeout: time.Duration(c.ShutdownTimeout),
		Count: func(r alert.Result, n int) { counts.WithLabelValues(string(r)).Add(float64(n)) },
		Report: func(p alert.Problem) {
			switch p.Result {
			case alert.Dropped:
				a.logger.Warn("alert queue full; alerts dropped (logged at most once a minute)",
					zap.String("webhook", name), zap.Int("dropped", p.Events))
			default:
				a.logger.Warn("alert webhook delivery failed; alerts given up",
					zap.String("webhook", name), zap.Int("alerts", p.Events), zap.Int("attempts", p.Attempts),
					zap.Int("status", p.Status), zap.Error(p.Err))
			}
		},
	})
}

// alertKeys resolves a webhook's secret into its signing keys. Errors
// name the variable, never the value.
func alertKeys(secret string) ([][]byte, error) {
	raw, err := resolveSecret("alert webhook secret", secret)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, s := range splitKeys(raw) {
		k, err := alert.ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("alert webhook secret %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// cleanupAlerts sends what is queued, within each webhook's
// shutdown_timeout. Offers after it are queued and never sent.
func (a *App) cleanupAlerts() {
	a.alerts.Close()
}

// newAlertMetrics registers portcullis_alerts_total (result: sent,
// dropped, failed) on reg, reusing the one a previous configuration
// registered.
func newAlertMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "alerts_total",
		Help: "Security alerts for webhooks by result: sent (accepted by the receiver), dropped (queue full), failed (refused, retries exhausted, or cut by shutdown).",
	}, []string{"result"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
		c = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return c, nil
}
