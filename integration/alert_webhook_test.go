package integration_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// alertSecret signs the test webhooks (Standard Webhooks form: whsec_
// and the key in base64).
var alertSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("alert-webhook-test-key-0123456789"))

// receivedAlert is one CloudEvent a test webhook received.
type receivedAlert struct {
	SpecVersion string         `json:"specversion"`
	ID          string         `json:"id"`
	Source      string         `json:"source"`
	Type        string         `json:"type"`
	Time        time.Time      `json:"time"`
	Subject     string         `json:"subject"`
	Data        map[string]any `json:"data"`
}

// alertReceiver is a test webhook: it verifies every delivery with its
// own reading of the Standard Webhooks scheme, and can answer slowly or
// never.
type alertReceiver struct {
	srv *httptest.Server
	// delay makes every answer wait; hang makes requests wait until the
	// test ends.
	delay time.Duration
	hang  chan struct{}

	mu       sync.Mutex
	alerts   []receivedAlert
	bodies   []string
	problems []string
	arrived  int
	changed  chan struct{}
}

func startAlertReceiver(t *testing.T, delay time.Duration, hang bool) *alertReceiver {
	t.Helper()
	rc := &alertReceiver{delay: delay, changed: make(chan struct{}, 1)}
	if hang {
		rc.hang = make(chan struct{})
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(func() {
		if rc.hang != nil {
			close(rc.hang)
		}
		rc.srv.Close()
	})
	return rc
}

// URL is the webhook URL; its path holds a token that must never be
// logged.
func (rc *alertReceiver) URL() string { return rc.srv.URL + "/hooks/tok-0123456789abcdef" }

func (rc *alertReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	rc.mu.Lock()
	rc.arrived++
	rc.mu.Unlock()
	if rc.hang != nil {
		select { // hung: the gateway's own timeout or shutdown ends it
		case <-rc.hang:
		case <-r.Context().Done():
		}
		return
	}
	time.Sleep(rc.delay)
	var evs []receivedAlert
	err := verifyWebhook(alertSecret, r.Header, body, time.Now(), 5*time.Minute)
	if err == nil && r.Header.Get("Content-Type") != "application/cloudevents-batch+json" {
		err = fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	if err == nil {
		err = json.Unmarshal(body, &evs)
	}
	rc.mu.Lock()
	if err != nil {
		rc.problems = append(rc.problems, err.Error())
	}
	rc.alerts = append(rc.alerts, evs...)
	rc.bodies = append(rc.bodies, string(body))
	rc.mu.Unlock()
	select {
	case rc.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitAlerts waits until n alerts arrived and returns them.
func (rc *alertReceiver) waitAlerts(t *testing.T, n int) []receivedAlert {
	t.Helper()
	deadline := time.After(time.Minute) // "hung", not "slow"
	for {
		rc.mu.Lock()
		got := slices.Clone(rc.alerts)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("hung: %d alerts arrived, want %d", len(got), n)
		}
	}
}

func (rc *alertReceiver) snapshot() (alerts []receivedAlert, bodies, problems []string, arrived int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.alerts), slices.Clone(rc.bodies), slices.Clone(rc.problems), rc.arrived
}

// verifyWebhook checks a delivery as the Standard Webhooks specification
// says a receiver should: HMAC-SHA256 over "id.timestamp.body" with the
// key after "whsec_", any of the space-separated "v1,<base64>"
// signatures, and a timestamp within tolerance of now.
func verifyWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is %v from now", ts, d)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if b64, ok := strings.CutPrefix(sig, "v1,"); ok {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no valid v1 signature")
}

// alertConf is what alertGateway puts in a gateway's configuration.
type alertConf struct {
	store, keyBlock, upstream string
	// issuer adds browser login at that provider (for login_failed).
	issuer string
	// webhook, when set, adds an alert block with these events and extra
	// lines.
	webhook, events, source, extra string
	// secretFile holds the secret (a file, so `portcullis reload`, a
	// process of its own, reads it too); empty: {env.ALERT_SECRET}.
	secretFile string
}

func alertGateway(c alertConf) harness.Caddyfile {
	return func(p harness.Ports) string {
		sso := ""
		if c.issuer != "" {
			sso = fmt.Sprintf(`session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %s {
			client_id %s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%d/.portcullis/callback
		}`, c.issuer, ssoClientID, p.HTTP)
		}
		alert, secret := "", "{env.ALERT_SECRET}"
		if c.secretFile != "" {
			secret = "{file." + c.secretFile + "}"
		}
		if c.webhook != "" {
			alert = fmt.Sprintf(`alert webhook %s {
			events %s
			secret %s
			source %s
			%s
		}`, c.webhook, c.events, secret, c.source, c.extra)
		}
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		%s
		api_keys {
			%s
		}
		scope orders:write implies orders:read
		%s
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), c.store, sso, c.keyBlock, alert, p.HTTP, c.upstream)
	}
}

var alertEnv = append([]string{"ALERT_SECRET=" + alertSecret}, ssoEnv...)

// TestAlertWebhookSignedEvents: two replicas sharing Redis post signed
// CloudEvents for scripted failures (wrong keys, a missing scope, a
// throttled address, a failed login), one alert per failure, each naming
// the request that raised it; allowed requests raise none, and no key or
// secret is in any alert.
func TestAlertWebhookSignedEvents(t *testing.T) {
	t.Parallel()
	redis := redistest.StartStandalone(t)
	idp := oidcprovider.Start(t)
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	rc := startAlertReceiver(t, 0, false)
	var gws []*harness.Gateway
	for i := range 2 {
		gws = append(gws, harness.StartGateway(t, alertGateway(alertConf{
			store: redisStore(redis.URL()), keyBlock: block, upstream: up.Addr, issuer: idp.Issuer(),
			webhook: rc.URL(), events: "token_rejected access_denied api_key_throttled login_failed",
			source: fmt.Sprintf("urn:portcullis:replica-%d", i+1), extra: "flush_interval 100ms",
		}), alertEnv...))
	}
	registerGateway(idp, gws...)

	// want[source][type] counts the alerts the answers call for;
	// requestIDs maps each refused request to its alert type.
	want := map[string]map[string]int{}
	requestIDs := map[string]string{}
	expect := func(i int, typ string, resp *http.Response) {
		src := fmt.Sprintf("urn:portcullis:replica-%d", i+1)
		if want[src] == nil {
			want[src] = map[string]int{}
		}
		want[src][typ]++
		requestIDs[resp.Header.Get("X-Request-Id")] = typ
	}
	for i, gw := range gws {
		for range 3 { // allowed: no alert
			if resp, _ := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + key}); resp.StatusCode != 200 {
				t.Fatalf("allowed request: %d", resp.StatusCode)
			}
		}
		for range 2 {
			resp, _ := gw.Do(t, "POST", "/orders", map[string]string{"Authorization": "Bearer " + key})
			if resp.StatusCode != 403 {
				t.Fatalf("POST without orders:write: %d", resp.StatusCode)
			}
			expect(i, "dev.portcullis.access_denied", resp)
		}
		resp, _ := gw.Do(t, "GET", "/.portcullis/callback?code=forged&state=forged", nil)
		if resp.StatusCode != 400 {
			t.Fatalf("forged callback: %d", resp.StatusCode)
		}
		expect(i, "dev.portcullis.login_failed", resp)
	}
	// Wrong keys until the address is throttled on replica 1: each
	// refused key is a token_rejected alert; the failure that starts the
	// lockout also raises the one api_key_throttled alert (with its
	// request id); the 429s while it lasts raise none.
	throttled, lockoutID, lastRefused := 0, "", ""
	for n := 0; throttled < 3; n++ {
		if n == 200 {
			t.Fatal("200 wrong keys and no 429")
		}
		resp, _ := gws[0].Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + fmt.Sprintf("pcl_%012d_%038d", n, n)})
		switch resp.StatusCode {
		case 401:
			expect(0, "dev.portcullis.token_rejected", resp)
			lastRefused = resp.Header.Get("X-Request-Id")
		case 429:
			if throttled == 0 {
				lockoutID = lastRefused
				want["urn:portcullis:replica-1"]["dev.portcullis.api_key_throttled"]++
			}
			throttled++
		default:
			t.Fatalf("wrong key: %d", resp.StatusCode)
		}
	}

	total := len(requestIDs) + 1
	alerts := rc.waitAlerts(t, total)
	got := map[string]map[string]int{}
	for _, a := range alerts {
		if got[a.Source] == nil {
			got[a.Source] = map[string]int{}
		}
		got[a.Source][a.Type]++
		id := a.Data["request_id"].(string)
		if a.Type == "dev.portcullis.api_key_throttled" {
			if id != lockoutID || a.Data["event"] != "lockout_started" || a.Data["reason"] != "api_key_throttled" {
				t.Errorf("api_key_throttled alert %+v; want the lockout_started of request %s", a, lockoutID)
			}
		} else if typ, ok := requestIDs[id]; !ok || typ != a.Type {
			t.Errorf("alert %s for request %v, which called for %q", a.Type, id, typ)
		}
		if a.SpecVersion != "1.0" || len(a.ID) != 32 || a.Time.IsZero() || a.Data["event"] == nil || a.Data["client_ip"] != "127.0.0.1" {
			t.Errorf("alert %+v", a)
		}
		if a.Type == "dev.portcullis.access_denied" && (a.Subject != "ci-bot" || a.Data["reason"] != "insufficient_scope") {
			t.Errorf("access_denied alert %+v", a)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alerts by source and type\n  %v\nwant\n  %v", got, want)
	}
	_, bodies, problems, _ := rc.snapshot()
	if len(problems) > 0 {
		t.Fatalf("deliveries failed verification: %v", problems)
	}
	for _, b := range bodies {
		if strings.Contains(b, key) || strings.Contains(b, key[17:49]) || strings.Contains(b, "forged") || strings.Contains(b, "session_id") {
			t.Fatalf("an alert carries a key, the callback's query or a session reference: %s", b)
		}
	}
	t.Logf("%d alerts from 2 replicas in %d deliveries, all signatures valid", len(alerts), len(bodies))
}

// TestAlertWebhookFlushOnReloadAndStop: alerts waiting for their batch
// go out when the configuration is reloaded, and when the gateway stops.
func TestAlertWebhookFlushOnReloadAndStop(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	rc := startAlertReceiver(t, 0, false)
	secretFile := filepath.Join(t.TempDir(), "alert-secret")
	if err := os.WriteFile(secretFile, []byte(alertSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(source string) harness.Caddyfile {
		return alertGateway(alertConf{store: "store memory", keyBlock: block, upstream: up.Addr, webhook: rc.URL(), secretFile: secretFile,
			events: "access_denied", source: source, extra: "flush_interval 1h\n\t\t\tbatch_size 1000\n\t\t\tshutdown_timeout 2s"})
	}
	gw := harness.StartGateway(t, conf("urn:portcullis:before-reload"), alertEnv...)
	deny := func(n int) {
		for range n {
			if resp, _ := gw.Do(t, "POST", "/orders", map[string]string{"Authorization": "Bearer " + key}); resp.StatusCode != 403 {
				t.Fatalf("POST: %d", resp.StatusCode)
			}
		}
	}
	deny(3)
	if _, _, _, arrived := rc.snapshot(); arrived != 0 {
		t.Fatalf("%d deliveries before the batch filled or the hour passed", arrived)
	}
	if err := gw.Reload(conf("urn:portcullis:after-reload")); err != nil {
		t.Fatal(err)
	}
	if got := rc.waitAlerts(t, 3); len(got) != 3 || got[0].Source != "urn:portcullis:before-reload" {
		t.Fatalf("after the reload: %+v", got)
	}
	deny(2)
	gw.Stop()
	got := rc.waitAlerts(t, 5)
	if len(got) != 5 || got[4].Source != "urn:portcullis:after-reload" {
		t.Fatalf("after the stop: %+v", got)
	}
}

// TestAlertWebhookNeverSlowsRequests measures the p99 latency of refused
// requests that each raise an alert: without alerts, with a receiver
// that sleeps, one that never answers, and one that refuses connections.
// The numbers are logged; the test asserts only what "not blocked"
// means: every request was answered while the receiver was hung, alerts
// beyond the queue were dropped and counted, and the drop was logged
// once a minute at most, without the webhook's URL path.
func TestAlertWebhookNeverSlowsRequests(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	const n = 400
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String() + "/hooks/tok-0123456789abcdef"
	}()
	cases := []struct {
		name    string
		rc      *alertReceiver
		webhook string
	}{
		{name: "no alerts"},
		{name: "slow receiver (2s)", rc: startAlertReceiver(t, 2*time.Second, false)},
		{name: "hung receiver", rc: startAlertReceiver(t, 0, true)},
		{name: "connection refused", webhook: closed},
	}
	p99s := map[string]time.Duration{}
	for _, c := range cases {
		webhook := c.webhook
		if c.rc != nil {
			webhook = c.rc.URL()
		}
		conf := alertConf{store: "store memory", keyBlock: block, upstream: up.Addr}
		if webhook != "" {
			conf.webhook, conf.events, conf.source = webhook, "access_denied", "urn:portcullis:latency"
			conf.extra = "queue_size 50\n\t\t\tbatch_size 10\n\t\t\tflush_interval 10ms\n\t\t\tmax_retries 1\n\t\t\tshutdown_timeout 1s"
		}
		gw := harness.StartGateway(t, alertGateway(conf), alertEnv...)
		client := &http.Client{Timeout: time.Minute} // "hung", not "slow"
		start := time.Now()
		lat := make([]time.Duration, 0, n)
		for i := range n + 20 {
			req, _ := http.NewRequest("POST", gw.URL+"/orders", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: request %d: %v", c.name, i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("%s: request %d: %d", c.name, i, resp.StatusCode)
			}
			if i >= 20 { // the first ones warm up
				lat = append(lat, time.Since(t0))
			}
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		p99s[c.name] = p99
		t.Logf("%-20s p50 %8v  p99 %8v  (%d requests in %v)", c.name, p50, p99, n, elapsed.Round(time.Millisecond))
		if webhook == "" {
			continue
		}
		metrics := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gw.Ports.Admin))
		dropped := metricValue(t, metrics, `portcullis_alerts_total{result="dropped"}`)
		switch c.name {
		case "hung receiver":
			// Every request was answered while the receiver held the
			// first batch and never answered it.
			if _, _, _, arrived := c.rc.snapshot(); arrived == 0 {
				t.Fatalf("%s: the gateway never reached the receiver", c.name)
			}
			if dropped < n-50-2*10 {
				t.Errorf("%s: %v alerts dropped, want at least %d (queue 50, batches of 10)", c.name, dropped, n-50-2*10)
			}
		case "connection refused":
			if dropped == 0 {
				t.Errorf("%s: nothing dropped", c.name)
			}
			waitLog(t, gw, "alert webhook delivery failed")
		}
		logs := gw.Logs()
		if lines := strings.Count(logs, "alert queue full"); dropped > 0 && (lines == 0 || lines > 1+int(time.Since(start)/time.Minute)) {
			t.Errorf("%s: %v drops logged in %d lines over %v; want one line a minute", c.name, dropped, lines, time.Since(start))
		}
		if strings.Contains(logs, "tok-0123456789abcdef") || strings.Contains(logs, alertSecret) {
			t.Errorf("%s: the gateway log shows the webhook's path token or the secret", c.name)
		}
		gw.Stop()
	}
	t.Logf("p99 relative to no alerts: slow %.2fx, hung %.2fx, refused %.2fx",
		ratio(p99s["slow receiver (2s)"], p99s["no alerts"]), ratio(p99s["hung receiver"], p99s["no alerts"]), ratio(p99s["connection refused"], p99s["no alerts"]))
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// metricValue reads one sample of a Prometheus text exposition; 0 when
// it is absent.
func metricValue(t *testing.T, metrics, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// waitLog waits until the gateway's output holds s.
func waitLog(t *testing.T, gw *harness.Gateway, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // "hung", not "slow"
	for !strings.Contains(gw.Logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("hung: the gateway never logged %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
