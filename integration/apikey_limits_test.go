package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// withRateLimit adds a rate_limit line to a key block of `apikey new`.
func withRateLimit(block, limit string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "\trate_limit " + limit + "\n" + block[i:]
}

// keyLimitGateway protects an upstream on a route without any rate-limit
// zone, sharing store; keys is the api_keys block's content.
func keyLimitGateway(upstream, storeLine, keys string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		api_keys {
			pepper {env.PCL_TEST_PEPPER}
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
	}
	reverse_proxy %s
}
`, p.Global(), storeLine, keys, p.HTTP, upstream)
	}
}

// hammer sends n concurrent GETs with key, spread over gws, and returns
// the number of 200s; every other answer must be a 429 refused by the
// key's own bucket (Retry-After, RateLimit-Policy of the api_key bucket).
func hammer(t *testing.T, gws []*harness.Gateway, key string, n int, policy string) int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := 0
	for i := range n {
		wg.Go(func() {
			resp, body := gws[i%len(gws)].Do(t, "GET", "/orders", bearer(key))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == 200:
				ok++
			case resp.StatusCode != 429:
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			case resp.Header.Get("RateLimit-Policy") != policy:
				t.Errorf("request %d: RateLimit-Policy %q, want %q", i, resp.Header.Get("RateLimit-Policy"), policy)
			case resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"request_id"`):
				t.Errorf("request %d: 429 without Retry-After or request id: %v %s", i, resp.Header, body)
			}
		})
	}
	wg.Wait()
	return ok
}

// TestAPIKeyOwnLimitAcrossReplicas: on two gateways sharing Redis, a
// static key's `rate_limit 1/1h burst 9` and a stored key's
// `--rate-limit 1/1h --burst 4` admit exactly 10 and 5 requests summed
// over both replicas, on a route without any zone; the refusals are
// 429s with the api_key bucket's headers, an audit reason of their own
// and the rate_limited_total{zone="api_key"} metric.
func TestAPIKeyOwnLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := []string{"PCL_TEST_PEPPER=pepper-for-the-key-limit-test-0123456789"}
	static, block := newKeyWithPepper(t, env, "--subject", "static-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	conf := keyLimitGateway(up.Addr, redisStore(redistest.SharedStandalone(t).URL()), withRateLimit(block, "1/1h burst 9"))
	gws := []*harness.Gateway{harness.StartGateway(t, conf, env...), harness.StartGateway(t, conf, env...)}

	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(conf(harness.Ports{HTTP: 1, Admin: 2})), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Run(t, env, "apikey", "create", "--config", cfg, "--adapter", "caddyfile", "--subject", "stored-bot",
		"--scopes", "orders:read", "--expires", "30d", "--rate-limit", "1/1h", "--burst", "4")
	if err != nil {
		t.Fatalf("apikey create: %v\n%s", err, out)
	}
	stored := cliKey.FindString(out)
	id := strings.Split(stored, "_")[1]
	list, err := harness.Run(t, env, "apikey", "list", "--config", cfg, "--adapter", "caddyfile", "--subject", "stored-bot")
	if err != nil || !regexp.MustCompile(id+`\s.*1/1h burst 4`).MatchString(list) {
		t.Fatalf("apikey list does not show the key's limit: %v\n%s", err, list)
	}

	if got := hammer(t, gws, static, 30, `"api_key";q=10;w=36000`); got != 10 {
		t.Errorf("static key, burst 9: %d requests admitted over both replicas, want exactly 10", got)
	}
	if got := hammer(t, gws, stored, 20, `"api_key";q=5;w=18000`); got != 5 {
		t.Errorf("stored key, burst 4: %d requests admitted over both replicas, want exactly 5", got)
	}
	// The events reach the test through the gateways' output pipes, which
	// may lag the answers: wait for them, then count exactly.
	waitFor(t, "35 api_key_rate_limited events", func() bool {
		return strings.Count(gws[0].Logs()+gws[1].Logs(), `"reason":"api_key_rate_limited"`) >= 20+15
	})
	logs := gws[0].Logs() + gws[1].Logs()
	if n := strings.Count(logs, `"reason":"api_key_rate_limited"`); n != 20+15 {
		t.Errorf("%d api_key_rate_limited audit events, want 35", n)
	}
	var total float64
	for _, gw := range gws {
		m := regexp.MustCompile(`portcullis_rate_limited_total\{zone="api_key"\} (\d+)`).FindStringSubmatch(
			fetch(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gw.Ports.Admin)))
		if m == nil {
			t.Fatal(`no portcullis_rate_limited_total{zone="api_key"} series`)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	if total != 35 {
		t.Errorf(`rate_limited_total{zone="api_key"} summed over the replicas = %v, want 35`, total)
	}
}

// newKeyWithPepper is newKey for a configuration with a pepper in env.
func newKeyWithPepper(t *testing.T, env []string, args ...string) (key, block string) {
	t.Helper()
	out, err := harness.Run(t, env, append([]string{"apikey", "new", "--pepper-env", "PCL_TEST_PEPPER"}, args...)...)
	if err != nil {
		t.Fatalf("apikey new: %v\n%s", err, out)
	}
	key = cliKey.FindString(out)
	_, block, _ = strings.Cut(out, "# Paste into the api_keys block:\n")
	if key == "" || !strings.HasPrefix(block, "key ") {
		t.Fatalf("unexpected apikey new output:\n%s", out)
	}
	return key, block
}
