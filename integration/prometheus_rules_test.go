package integration_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// rulesDir holds the Prometheus rules the project ships.
func rulesDir() string { return filepath.Join(harness.RepoRoot(), "deploy", "prometheus") }

// TestPrometheusRulesPromtool checks deploy/prometheus/alerts.yml with
// Prometheus's own tool and runs its unit tests (alerts_test.yml: the
// rules fire, and stay quiet, on synthetic series).
func TestPrometheusRulesPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is missing: ./integration/test-all.sh installs it (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir()
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// notProducedHere are metrics the rules use that this test's traffic
// does not make: refreshing a browser session's tokens needs a login in
// a browser (the SSO refresh tests do that). The unit test
// TestPrometheusRulesNameRegisteredMetrics checks they are registered.
var notProducedHere = []string{"portcullis_token_refreshes_total"}

// TestPrometheusRulesMetricsExported scrapes a running gateway after
// traffic that exercises what the rules watch (allowed and denied
// requests, a rate limit, a JWT issuer's keys, an unreachable login
// provider, an alert webhook, Redis going away) and checks that every
// metric the rules name is in the scrape: a renamed metric cannot leave
// an alert that never fires.
func TestPrometheusRulesMetricsExported(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile(filepath.Join(rulesDir(), "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, expr := range regexp.MustCompile(`(?m)^\s+expr: (\|\n(?:\s{10,}.*\n)+|.*)`).FindAllStringSubmatch(string(rules), -1) {
		for _, n := range regexp.MustCompile(`\bportcullis_[a-z0-9_]+`).FindAllString(expr[1], -1) {
			used[n] = true
		}
	}
	if len(used) < 8 {
		t.Fatalf("read %d metric names from the rules' expressions: %v", len(used), used)
	}

	redis := redistest.StartStandalone(t)
	idp := oidcprovider.Start(t)
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	rc := startAlertReceiver(t, 0, false)
	deadIdP := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	const audience = "https://orders.test"
	gw := harness.StartGateway(t, func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %s {
			client_id gateway
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%d/.portcullis/callback
		}
		jwt %s {
			audience %s
		}
		api_keys {
			%s
		}
		rate_limit tight 1/1h burst 1 key {http.auth.user.id}
		alert webhook %s {
			events access_denied rate_limited
			secret {env.ALERT_SECRET}
		}
	}
}

http://127.0.0.1:%d {
	portcullis /limited* {
		require orders:read
		rate_limit tight
	}
	portcullis {
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), redisStore(redis.URL()), deadIdP, p.HTTP, idp.Issuer(), audience, block, rc.URL(), p.HTTP, up.Addr)
	}, alertEnv...)

	auth := map[string]string{"Authorization": "Bearer " + key}
	gw.Do(t, "GET", "/orders", auth)
	gw.Do(t, "POST", "/orders", auth)
	gw.Do(t, "GET", "/orders", nil)
	for range 3 {
		gw.Do(t, "GET", "/limited", auth)
	}
	now := time.Now()
	tok, err := idp.SignJWT(map[string]any{"iss": idp.Issuer(), "sub": "svc", "aud": []string{audience}, "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
		t.Fatalf("JWT: %d %s", resp.StatusCode, body)
	}
	if resp, _ := gw.Do(t, "GET", "/.portcullis/login?return_to=/orders", nil); resp.StatusCode != 503 {
		t.Fatalf("login at an unreachable provider: %d, want 503", resp.StatusCode)
	}
	rc.waitAlerts(t, 2) // access_denied and rate_limited
	redis.Stop()
	// A principal the limiter has not refused yet: its check needs Redis.
	gw.Do(t, "GET", "/limited", map[string]string{"Authorization": "Bearer " + tok})

	exported := map[string]bool{}
	metrics := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gw.Ports.Admin))
	for _, l := range strings.Split(metrics, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		exported[strings.FieldsFunc(l, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	var missing []string
	for n := range used {
		if !exported[n] && !slices.Contains(notProducedHere, n) {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("the rules use metrics the gateway did not export: %v\n%s", missing, grepLines(metrics, "portcullis_"))
	}
	t.Logf("all %d metrics the rules use were scraped (but %v)", len(used), notProducedHere)
}
