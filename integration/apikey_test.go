package integration_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// newKey creates a key with the real CLI and returns the key and the
// Caddyfile block that declares it.
func newKey(t *testing.T, args ...string) (key, block string) {
	t.Helper()
	out, err := harness.Run(t, nil, append([]string{"apikey", "new"}, args...)...)
	if err != nil {
		t.Fatalf("apikey new: %v\n%s", err, out)
	}
	key = regexp.MustCompile(`(?m)^pcl_\S+$`).FindString(out)
	_, block, _ = strings.Cut(out, "# Paste into the api_keys block:\n")
	if key == "" || !strings.HasPrefix(block, "key ") {
		t.Fatalf("unexpected apikey new output:\n%s", out)
	}
	return key, block
}

// apiKeyGateway protects an upstream with one key and the given store line.
func apiKeyGateway(upstream, storeLine, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		api_keys {
			%s
		}
		scope orders:write implies orders:read
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), storeLine, keyBlock, p.HTTP, upstream)
	}
}

// TestAPIKeyEndToEnd drives the real binary with each store: memory,
// a real standalone Redis and a real 3-node Redis Cluster. Static keys
// do not need the store, so every variant must behave the same.
func TestAPIKeyEndToEnd(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	stores := map[string]string{
		"memory":            "store memory",
		"redis standalone":  redisStore(redistest.SharedStandalone(t).URL()),
		"redis cluster":     redisClusterStore(redistest.SharedCluster(t).Addrs()),
		"redis down (lazy)": "store redis://127.0.0.1:1/0",
	}
	for name, storeLine := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := harness.StartUpstream(t)
			gw := harness.StartGateway(t, apiKeyGateway(up.Addr, storeLine, block))
			checkAPIKeyAnswers(t, gw, up, key)
			if strings.Contains(gw.Logs(), key) || strings.Contains(gw.Logs(), key[len(key)-38:]) {
				t.Fatal("the gateway logged the API key")
			}
		})
	}
}

func checkAPIKeyAnswers(t *testing.T, gw *harness.Gateway, up *harness.Upstream, key string) {
	t.Helper()
	// No credential: 401, bare challenge, JSON body with a request id.
	resp, body := gw.Do(t, "GET", "/orders", nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="portcullis"` {
		t.Fatalf("no key: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	var e struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("no key: body %s (%v)", body, err)
	}
	// A wrong key: 401 invalid_token, no internal detail.
	wrong := key[:len(key)-7] + "AAAAAAA"
	resp, body = gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + wrong})
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || strings.Contains(body, wrong) {
		t.Fatalf("wrong key: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	// Not enough scope for a write: 403 naming the scopes needed.
	resp, _ = gw.Do(t, "POST", "/orders", map[string]string{"Authorization": "Bearer " + key})
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="orders:read orders:write"`) {
		t.Fatalf("write with read key: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if up.Count() != 0 {
		t.Fatalf("the upstream was called %d times for refused requests", up.Count())
	}
	// A good key with forged identity headers, in any spelling.
	for _, h := range []map[string]string{
		{"Authorization": "Bearer " + key, "X-Auth-Subject": "admin", "x_auth_scopes": "admin"},
		{"Authorization": "Bearer " + key, "x-auth-method": "session", "X-AUTH-SUBJECT": "admin"},
	} {
		before := up.Count()
		resp, body = gw.Do(t, "GET", "/orders", h)
		if resp.StatusCode != 200 || up.Count() != before+1 {
			t.Fatalf("good key: %d %s", resp.StatusCode, body)
		}
		got := up.Received()[before]
		if got.Get("X-Auth-Subject") != "ci-bot" || got.Get("X-Auth-Method") != "api_key" ||
			len(got.Values("X-Auth-Subject")) != 1 {
			t.Fatalf("identity headers upstream: %v", got)
		}
		for name, vs := range got {
			for _, v := range vs {
				if strings.Contains(v, key) {
					t.Fatalf("the key reached the upstream in %s", name)
				}
			}
			if n := strings.ToLower(strings.ReplaceAll(name, "_", "-")); strings.HasPrefix(n, "x-auth-") && got.Get(name) == "admin" {
				t.Fatalf("a forged header reached the upstream: %s", name)
			}
		}
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("upstream answer not passed through: %v", resp.Header)
	}
}

// TestAPIKeyCLIHelp: the binary's help names itself, not caddy, and
// `apikey new` takes the same --expires values as `apikey create`.
func TestAPIKeyCLIHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"apikey", "--help"}, {"apikey", "new", "--help"}, {"--help"}} {
		out, err := harness.Run(t, nil, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if want := "portcullis " + strings.Join(args[:len(args)-1], " "); !strings.Contains(out, want) || strings.Contains(out, "caddy apikey") {
			t.Errorf("%s prints no %q (or names caddy):\n%s", strings.Join(args, " "), want, out)
		}
	}
	if out, err := harness.Run(t, nil, "apikey", "new", "--subject", "ci-bot", "--expires", "90d"); err != nil ||
		!regexp.MustCompile(`(?m)^\texpires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(out) {
		t.Errorf("apikey new --expires 90d: %v\n%s", err, out)
	}
}
