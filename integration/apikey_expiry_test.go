package integration_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// withExpiry makes a key block expire at t.
func withExpiry(block string, t time.Time) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "\texpires " + t.UTC().Format(time.RFC3339) + "\n" + block[i:]
}

// TestAPIKeyExpiryWarnings: on the real binary, a key inside its warning
// window gets Deprecation, Sunset and the rotation Link on every answer
// (allowed or refused), one outside it gets none, and the audit log has
// one api_key_expiring event for the key however often it is used.
func TestAPIKeyExpiryWarnings(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	soonAt, laterAt := now.Add(10*24*time.Hour), now.Add(30*24*time.Hour)
	soon, soonBlock := newKey(t, "--subject", "soon", "--scopes", "orders:read")
	later, laterBlock := newKey(t, "--subject", "later", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			max_lifetime 90d
			warn_before 14d
			rotation_doc https://docs.example.com/rotate-keys
			%s
			%s
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
`, p.Global(), withExpiry(soonBlock, soonAt), withExpiry(laterBlock, laterAt), p.HTTP, up.Addr)
	})
	for range 3 {
		for _, method := range []string{"GET", "POST"} {
			resp, body := gw.Do(t, method, "/orders", bearer(soon))
			want := map[string]int{"GET": 200, "POST": 403}[method]
			if resp.StatusCode != want {
				t.Fatalf("%s with the expiring key: %d %s", method, resp.StatusCode, body)
			}
			if got, w := resp.Header.Get("Deprecation"), fmt.Sprintf("@%d", soonAt.Add(-14*24*time.Hour).Unix()); got != w {
				t.Errorf("%s: Deprecation = %q, want %q", method, got, w)
			}
			if got, w := resp.Header.Get("Sunset"), soonAt.UTC().Format(http.TimeFormat); got != w {
				t.Errorf("%s: Sunset = %q, want %q", method, got, w)
			}
			if got := resp.Header.Get("Link"); got != `<https://docs.example.com/rotate-keys>; rel="deprecation"; type="text/html"` {
				t.Errorf("%s: Link = %q", method, got)
			}
		}
	}
	resp, _ := gw.Do(t, "GET", "/orders", bearer(later))
	if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "" || resp.Header.Get("Sunset") != "" || resp.Header.Get("Link") != "" {
		t.Fatalf("a key outside its window: %d, %v", resp.StatusCode, resp.Header)
	}
	logs := gw.Logs()
	if n := strings.Count(logs, `"event":"api_key_expiring"`); n != 1 {
		t.Fatalf("%d api_key_expiring events, want 1:\n%s", n, logs)
	}
	for _, k := range []string{soon, later} {
		if strings.Contains(logs, k) {
			t.Fatal("the logs reveal a key")
		}
	}
}

// TestAPIKeyMaxLifetimeValidate: validate refuses a static key beyond
// max_lifetime, with its line.
func TestAPIKeyMaxLifetimeValidate(t *testing.T) {
	t.Parallel()
	_, block := newKey(t, "--subject", "far")
	conf := fmt.Sprintf("{\n\tportcullis {\n\t\tapi_keys {\n\t\t\tmax_lifetime 90d\n\t\t\t%s\n\t\t}\n\t}\n}\n", withExpiry(block, time.Now().Add(200*24*time.Hour)))
	dir := t.TempDir()
	path := dir + "/Caddyfile"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Run(t, nil, "validate", "--config", path, "--adapter", "caddyfile")
	if err == nil || !strings.Contains(out, "max_lifetime") || !strings.Contains(out, "Caddyfile:5") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}
