package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/alert"
)

func TestAlertConfigCheck(t *testing.T) {
	t.Parallel()
	ok := AlertConfig{Webhook: "https://alerts.example.com/hook", Events: []string{"login_failed"}, Secret: "{env.X}"}
	tests := []struct {
		name string
		edit func(*AlertConfig)
		want string // "" for valid
	}{
		{name: "https", edit: func(*AlertConfig) {}},
		{name: "http loopback v4", edit: func(c *AlertConfig) { c.Webhook = "http://127.0.0.1:9000/hook" }},
		{name: "http loopback v6", edit: func(c *AlertConfig) { c.Webhook = "http://[::1]:9000/hook" }},
		{name: "http localhost", edit: func(c *AlertConfig) { c.Webhook = "http://localhost/hook" }},
		{name: "http elsewhere", edit: func(c *AlertConfig) { c.Webhook = "http://alerts.example.com/hook" }, want: "must be https"},
		{name: "http loopback-looking name", edit: func(c *AlertConfig) { c.Webhook = "http://127.0.0.1.example.com/hook" }, want: "must be https"},
		{name: "relative", edit: func(c *AlertConfig) { c.Webhook = "/hook" }, want: "must be absolute"},
		{name: "other scheme", edit: func(c *AlertConfig) { c.Webhook = "ftp://alerts.example.com/" }, want: "must be https"},
		{name: "unknown event", edit: func(c *AlertConfig) { c.Events = []string{"login_faild"} }, want: `unknown event "login_faild"`},
		{name: "no events", edit: func(c *AlertConfig) { c.Events = nil }, want: "no events named"},
		{name: "no secret", edit: func(c *AlertConfig) { c.Secret = "" }, want: "secret is missing"},
		{name: "negative queue", edit: func(c *AlertConfig) { c.QueueSize = -1 }, want: "must not be negative"},
		{name: "retries below -1", edit: func(c *AlertConfig) { c.MaxRetries = -2 }, want: "max_retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.edit(&c)
			err := c.check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAlertValidateJSON: JSON configs meet the same checks, and an unset
// or short secret fails Provision without showing the value.
func TestAlertValidateJSON(t *testing.T) {
	t.Setenv("PORTCULLIS_TEST_ALERT_SHORT", "tiny-secret")
	tests := []struct{ name, alert, want string }{
		{name: "unset", alert: `{"webhook":"https://a.example/h","events":["login_failed"],"secret":"{env.PORTCULLIS_TEST_UNSET_VARIABLE}"}`, want: "environment variable PORTCULLIS_TEST_UNSET_VARIABLE is not set"},
		{name: "short", alert: `{"webhook":"https://a.example/h","events":["login_failed"],"secret":"{env.PORTCULLIS_TEST_ALERT_SHORT}"}`, want: "the secret is 11 bytes"},
		{name: "plain http", alert: `{"webhook":"http://a.example/h","events":["login_failed"],"secret":"x"}`, want: "must be https"},
		{name: "unknown event", alert: `{"webhook":"https://a.example/h","events":["nope"],"secret":"x"}`, want: `unknown event "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := new(caddy.Config)
			if err := json.Unmarshal([]byte(`{"admin":{"disabled":true},"apps":{"portcullis":{"alerts":[`+tt.alert+`]}}}`), cfg); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "tiny-secret") {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}

// TestAlertFromHandler: a refused key raises a signed token_rejected
// alert through the audit emitter, and it is counted as sent.
func TestAlertFromHandler(t *testing.T) {
	t.Parallel()
	got := make(chan []alert.CloudEvent, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key, _ := alert.ParseSecret("alert-secret-for-the-handler-test")
		if want := alert.Sign([][]byte{key}, r.Header.Get(alert.HeaderID), parseUnix(t, r.Header.Get(alert.HeaderTimestamp)), body); r.Header.Get(alert.HeaderSignature) != want {
			t.Errorf("signature %q, want %q", r.Header.Get(alert.HeaderSignature), want)
		}
		var evs []alert.CloudEvent
		if err := json.Unmarshal(body, &evs); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- evs
	}))
	t.Cleanup(srv.Close)
	h, k := newTestHandler(t, Handler{})
	counts, err := newAlertMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.app.alertSender(&AlertConfig{Webhook: srv.URL + "/hook", Events: []string{"token_rejected"}, Secret: "alert-secret-for-the-handler-test", BatchSize: 1}, "GW-1", counts)
	if err != nil {
		t.Fatal(err)
	}
	h.app.alerts = alert.NewDispatcher(nil, s)
	h.app.alerts.Start()
	t.Cleanup(h.app.cleanupAlerts)

	w, _ := serveTarget(t, h, http.MethodGet, "/orders", map[string][]string{"Authorization": {"Bearer " + k.key + "x"}}, nil)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", w.Code)
	}
	serveTarget(t, h, http.MethodGet, "/orders", map[string][]string{"Authorization": {"Bearer " + k.key}}, nil) // allowed: no alert
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0].Type != "dev.portcullis.token_rejected" || evs[0].Source != "urn:portcullis:gw-1" ||
			evs[0].Data.RequestID != w.Header().Get("X-Request-Id") || evs[0].Data.Path != "/orders" {
			t.Fatalf("alerts %+v", evs)
		}
		raw, _ := json.Marshal(evs)
		if strings.Contains(string(raw), k.key) {
			t.Fatal("the alert carries the key")
		}
	case <-time.After(time.Minute):
		t.Fatal("hung: no alert arrived")
	}
	h.app.cleanupAlerts()
	if n := testutil.ToFloat64(counts.WithLabelValues("sent")); n != 1 {
		t.Fatalf("sent = %v, want 1", n)
	}
}

func parseUnix(t *testing.T, s string) time.Time {
	t.Helper()
	var secs int64
	if err := json.Unmarshal([]byte(s), &secs); err != nil {
		t.Errorf("timestamp %q: %v", s, err)
	}
	return time.Unix(secs, 0)
}
