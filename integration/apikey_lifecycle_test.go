package integration_test

import (
	"fmt"
	"net"
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

var cliKey = regexp.MustCompile(`(?m)^pcl_\S+$`)

// TestAPIKeyLifecycleAcrossGateways: a key created with the CLI works on
// two gateways sharing Redis; revoked on the CLI, it is refused by both
// within a second; rotated, old and new work during the grace period and
// only the new one after.
func TestAPIKeyLifecycleAcrossGateways(t *testing.T) {
	t.Parallel()
	redis := redistest.StartStandalone(t)
	up := harness.StartUpstream(t)
	env := []string{"PCL_TEST_PEPPER=pepper-for-the-lifecycle-test-0123456789"}
	conf := func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		api_keys {
			pepper {env.PCL_TEST_PEPPER}
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
	}
	reverse_proxy %s
}
`, p.Global(), redisStore(redis.URL()), p.HTTP, up.Addr)
	}
	gw1 := harness.StartGateway(t, conf, env...)
	gw2 := harness.StartGateway(t, conf, env...)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(conf(harness.Ports{HTTP: 1, Admin: 2})), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := harness.Run(t, env, append([]string{"apikey"}, append(args, "--config", cfg, "--adapter", "caddyfile")...)...)
		if err != nil {
			t.Fatalf("apikey %v: %v\n%s", args, err, out)
		}
		return out
	}
	status := func(gw *harness.Gateway, key string) int {
		resp, _ := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + key})
		return resp.StatusCode
	}
	// refusedWithin polls until both gateways refuse key, and fails if a
	// check that began `within` after since still saw it accepted. Checks
	// are judged by when they began, so a slow machine cannot fail this.
	refusedWithin := func(what, key string, since time.Time, within time.Duration) {
		t.Helper()
		for {
			began := time.Now()
			if status(gw1, key) == 401 && status(gw2, key) == 401 {
				return
			}
			if late := began.Sub(since); late >= within {
				t.Fatalf("%s: still accepted in a check that began %v later", what, late)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	out := cli("create", "--subject", "ci-bot", "--scopes", "orders:read", "--expires", "90d", "--name", "ci")
	if !strings.Contains(out, `"event":"api_key_created"`) {
		t.Fatalf("create wrote no audit event:\n%s", out)
	}
	key := cliKey.FindString(out)
	if key == "" {
		t.Fatalf("no key in:\n%s", out)
	}
	id := strings.Split(key, "_")[1]
	if status(gw1, key) != 200 || status(gw2, key) != 200 {
		t.Fatal("a created key does not work on both gateways")
	}
	if list := cli("list"); !strings.Contains(list, id) || strings.Contains(list, key) {
		t.Fatalf("list:\n%s", list)
	}

	// The grace period runs in real time: it begins inside the rotate
	// command, so after rotating began and before it returned.
	const grace = 3 * time.Second
	rotating := time.Now()
	rot := cli("rotate", id, "--grace", grace.String())
	rotated := time.Now()
	newKey := cliKey.FindString(rot)
	if newKey == "" || newKey == key {
		t.Fatalf("rotate printed no new key:\n%s", rot)
	}
	oldOK, newOK := status(gw1, key) == 200, status(gw2, newKey) == 200
	switch {
	case !newOK:
		t.Fatal("the new key does not work")
	case !oldOK && time.Since(rotating) < grace:
		t.Fatal("during the grace period both keys must work")
	case !oldOK:
		t.Logf("the old key was checked %v after rotating began, not within the %v grace (a busy machine)", time.Since(rotating), grace)
	}
	// Refused by any check that begins after the grace ended (and the
	// gateways' caches, at most MaxCacheTTL = 1s old, learned of it).
	time.Sleep(time.Until(rotated.Add(grace)))
	refusedWithin("the old key after the grace period", key, rotated, grace)
	if status(gw1, newKey) != 200 {
		t.Fatal("the new key stopped working")
	}

	newID := strings.Split(newKey, "_")[1]
	if revoked := cli("revoke", newID); !strings.Contains(revoked, `"event":"api_key_revoked"`) || strings.Contains(revoked, newKey) {
		t.Fatalf("revoke did not write its audit event (or wrote the key):\n%s", revoked)
	}
	// Within a second (the gateways' cache lifetime) of the revocation.
	refusedWithin("the revoked key", newKey, time.Now(), time.Second)
	for _, gw := range []*harness.Gateway{gw1, gw2} {
		if strings.Contains(gw.Logs(), key) || strings.Contains(gw.Logs(), newKey) {
			t.Fatal("a gateway logged an API key")
		}
	}
}

// TestAPIKeyGuessingIsThrottled: many wrong keys from one address end in
// 429, while the real key keeps working from elsewhere.
func TestAPIKeyGuessingIsThrottled(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, apiKeyGateway(up.Addr, "store memory", block))
	var last int
	for i := range 25 {
		resp, _ := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + fmt.Sprintf("pcl_%012d_%038d", i, i)})
		last = resp.StatusCode
		if last == 429 {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			break
		}
	}
	if last != 429 {
		t.Fatalf("25 wrong keys from one address: last status %d, want 429", last)
	}
	// The address is throttled, not the key: the real key still works from
	// another address (127.0.0.2 reaches the gateway over loopback).
	other := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	req, _ := http.NewRequest("GET", gw.URL+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := other.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the real key from another address: %d, want 200", resp.StatusCode)
	}
}
