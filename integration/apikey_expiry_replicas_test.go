package integration_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestAPIKeyExpiryWarningsOnReplicas: keys created with the CLI in the
// Redis two gateways share: the one inside its warning window gets
// Deprecation, Sunset and the rotation Link on both replicas (allowed
// and refused answers); the one outside gets none on either; `apikey
// list` marks only the first.
func TestAPIKeyExpiryWarningsOnReplicas(t *testing.T) {
	t.Parallel()
	redis := redistest.SharedStandalone(t)
	up := harness.StartUpstream(t)
	env := []string{"PCL_TEST_PEPPER=pepper-for-the-expiry-replicas-test-0123"}
	conf := func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		api_keys {
			pepper {env.PCL_TEST_PEPPER}
			max_lifetime 90d
			warn_before 14d
			rotation_doc https://docs.example.com/rotate-keys
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), redisStore(redis.URL()), p.HTTP, up.Addr)
	}
	gws := []*harness.Gateway{harness.StartGateway(t, conf, env...), harness.StartGateway(t, conf, env...)}
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(cfg, []byte(conf(harness.Ports{HTTP: 1, Admin: 2})), 0o600); err != nil {
		t.Fatal(err)
	}
	subject := "expiry-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	create := func(expires string) (string, time.Time) {
		t.Helper()
		out, err := harness.Run(t, env, "apikey", "create", "--config", cfg, "--adapter", "caddyfile", "--subject", subject,
			"--scopes", "orders:read", "--expires", expires)
		if err != nil {
			t.Fatalf("apikey create: %v\n%s", err, out)
		}
		var exp time.Time
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "expires:"); ok {
				exp, err = time.Parse(time.RFC3339, strings.TrimSpace(v))
				if err != nil {
					t.Fatalf("expires line %q: %v", line, err)
				}
			}
		}
		return cliKey.FindString(out), exp
	}
	soon, soonAt := create("10d")
	later, _ := create("30d")
	wantDeprecation := fmt.Sprintf("@%d", soonAt.Add(-14*24*time.Hour).Unix())
	for i, gw := range gws {
		for _, method := range []string{"GET", "POST"} {
			resp, body := gw.Do(t, method, "/orders", bearer(soon))
			if want := map[string]int{"GET": 200, "POST": 403}[method]; resp.StatusCode != want {
				t.Fatalf("replica %d, %s with the expiring key: %d %s", i, method, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Deprecation"); got != wantDeprecation {
				t.Errorf("replica %d, %s: Deprecation %q, want %q", i, method, got, wantDeprecation)
			}
			if got, want := resp.Header.Get("Sunset"), soonAt.UTC().Format(http.TimeFormat); got != want {
				t.Errorf("replica %d, %s: Sunset %q, want %q", i, method, got, want)
			}
			if got := resp.Header.Get("Link"); got != `<https://docs.example.com/rotate-keys>; rel="deprecation"; type="text/html"` {
				t.Errorf("replica %d, %s: Link %q", i, method, got)
			}
		}
		resp, _ := gw.Do(t, "GET", "/orders", bearer(later))
		if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "" || resp.Header.Get("Sunset") != "" || resp.Header.Get("Link") != "" {
			t.Errorf("replica %d, a key outside its window: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	list, err := harness.Run(t, env, "apikey", "list", "--config", cfg, "--adapter", "caddyfile", "--subject", subject)
	if err != nil {
		t.Fatalf("apikey list: %v\n%s", err, list)
	}
	soonID, laterID := strings.Split(soon, "_")[1], strings.Split(later, "_")[1]
	for _, line := range strings.Split(list, "\n") {
		switch {
		case strings.HasPrefix(line, soonID) && !strings.Contains(line, "expiring (9d left)"):
			t.Errorf("list does not mark the expiring key: %q", line)
		case strings.HasPrefix(line, laterID) && strings.Contains(line, "expiring"):
			t.Errorf("list marks a key outside its window: %q", line)
		}
	}
}
