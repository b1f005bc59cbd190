package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// auditGateway routes the portcullis.audit logger to a file with Caddy's
// own log configuration.
func auditGateway(upstream, auditFile, storeLine, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	log audit {
		include portcullis.audit
		output file %s
		format json
	}
	portcullis {
		%s
		api_keys {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		route orders
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), auditFile, storeLine, keyBlock, p.HTTP, upstream)
	}
}

// TestAuditTrailAndMetrics checks the exact audit events written to a file
// through a Caddyfile log block, that no secret appears in any log line,
// and that /metrics counts decisions with bounded labels.
func TestAuditTrailAndMetrics(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	file := filepath.Join(t.TempDir(), "audit.log")
	gw := harness.StartGateway(t, auditGateway(up.Addr, file, "store memory", block))

	resp, _ := gw.Do(t, "GET", "/orders?access_token=should-not-be-logged", map[string]string{"Authorization": "Bearer " + key, "User-Agent": "audit-test"})
	allowID := resp.Header.Get("X-Request-Id")
	resp, _ = gw.Do(t, "GET", "/orders", nil)
	denyID := resp.Header.Get("X-Request-Id")
	resp, _ = gw.Do(t, "POST", "/orders", map[string]string{"Authorization": "Bearer " + key})
	scopeID := resp.Header.Get("X-Request-Id")
	// Many distinct wrong keys, as a guessing client would send.
	for i := range 1000 {
		gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + fmt.Sprintf("pcl_%012d_%038d", i, i)})
	}

	events := readEvents(t, file, 1004)
	byID := map[string]map[string]any{}
	for _, e := range events {
		if id, ok := e["request_id"].(string); ok {
			byID[id] = e
		}
	}
	expect := []struct {
		id   string
		want map[string]any
	}{
		{allowID, map[string]any{"logger": "portcullis.audit", "event": "decision", "result": "allow", "reason": "allowed", "subject": "ci-bot",
			"auth_method": "api_key", "route": "orders", "method": "GET", "path": "/orders", "client_ip": "127.0.0.1", "user_agent": "audit-test"}},
		{denyID, map[string]any{"event": "decision", "result": "deny", "reason": "no_credentials", "path": "/orders"}},
		{scopeID, map[string]any{"event": "decision", "result": "deny", "reason": "insufficient_scope", "subject": "ci-bot", "method": "POST"}},
	}
	for _, x := range expect {
		e, ok := byID[x.id]
		if x.id == "" || !ok {
			t.Fatalf("no audit event for request id %q", x.id)
		}
		for k, v := range x.want {
			if e[k] != v {
				t.Errorf("event %s: %s = %v, want %v", x.id, k, e[k], v)
			}
		}
		if _, ok := e["ts"]; !ok {
			t.Errorf("event %s has no time", x.id)
		}
	}
	if _, ok := byID[allowID]["key_id"].(string); !ok {
		t.Error("the allow event has no key_id")
	}
	// No secret in any log line: the key, its secret part, the query string.
	raw, _ := os.ReadFile(file)
	all := string(raw) + gw.Logs()
	for _, secret := range []string{key, key[17:49], "should-not-be-logged", "access_token"} {
		if strings.Contains(all, secret) {
			t.Errorf("a log line contains %q", secret)
		}
	}

	// Metrics on Caddy's admin endpoint: counters moved, labels bounded.
	metrics := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gw.Ports.Admin))
	if !regexp.MustCompile(`portcullis_decisions_total\{auth_method="api_key",reason="allowed",result="allow"\} 1\b`).MatchString(metrics) {
		t.Errorf("allowed decision not counted:\n%s", grepLines(metrics, "portcullis_decisions_total"))
	}
	series := grepLines(metrics, "portcullis_decisions_total{")
	if n := strings.Count(series, "\n"); n > 10 {
		t.Errorf("%d decision series after 1000 distinct keys; labels are not bounded:\n%s", n, series)
	}
	if strings.Contains(grepLines(metrics, "portcullis_"), "ci-bot") {
		t.Error("a metric label carries a subject")
	}
}

// TestReadyzFollowsRedis stops and restarts Redis under a running gateway.
func TestReadyzFollowsRedis(t *testing.T) {
	t.Parallel()
	redis := redistest.StartStandalone(t)
	_, block := newKey(t)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, apiKeyGateway(up.Addr, redisStore(redis.URL()), block))
	ready := func() int {
		resp, body := gw.Do(t, "GET", "/.portcullis/readyz", nil)
		if strings.Contains(body, "127.0.0.1") {
			t.Fatalf("readyz reveals detail: %s", body)
		}
		return resp.StatusCode
	}
	if resp, _ := gw.Do(t, "GET", "/.portcullis/healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	if got := ready(); got != 200 {
		t.Fatalf("readyz with Redis up: %d", got)
	}
	redis.Stop()
	if got := ready(); got != 503 {
		t.Fatalf("readyz with Redis stopped: %d, want 503", got)
	}
	redis.Restart(t)
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow"
	for ready() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("readyz did not recover after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readEvents waits until the file holds at least n JSON lines and parses them.
func readEvents(t *testing.T, path string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow"
	for {
		var events []map[string]any
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var e map[string]any
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("audit line is not JSON: %s", sc.Text())
				}
				events = append(events, e)
			}
			f.Close()
		}
		if len(events) >= n || time.Now().After(deadline) {
			if len(events) < n {
				t.Fatalf("audit file has %d events, want at least %d", len(events), n)
			}
			return events
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, substr string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
