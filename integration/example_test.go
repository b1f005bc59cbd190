package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestExampleTour runs the README's five-minute tour against the real
// Caddyfile.example: 401 without a key, 200 with the example key and the
// identity echoed by the demo upstream (never the key), 403 for a write.
func TestExampleTour(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`pcl_\w+`).FindString(string(example))
	if key == "" {
		t.Fatal("Caddyfile.example shows no demo key")
	}
	echo := harness.FreePort(t)
	gw := harness.Start(t, harness.Options{
		Caddyfile: func(harness.Ports) string { return string(example) },
		Env: func(p harness.Ports) []string {
			return []string{fmt.Sprintf("PORTCULLIS_PORT=%d", p.HTTP), fmt.Sprintf("PORTCULLIS_ADMIN_PORT=%d", p.Admin),
				fmt.Sprintf("DEMO_UPSTREAM_PORT=%d", echo)}
		},
	})

	resp, _ := gw.Do(t, "GET", "/orders", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("without a key: %d, want 401", resp.StatusCode)
	}
	resp, body := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + key, "X-Auth-Subject": "admin"})
	if resp.StatusCode != 200 {
		t.Fatalf("with the example key: %d %s", resp.StatusCode, body)
	}
	var echoed struct {
		Path    string              `json:"path"`
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &echoed); err != nil {
		t.Fatalf("demo upstream answer is not JSON: %v\n%s", err, body)
	}
	if got := echoed.Headers["X-Auth-Subject"]; len(got) != 1 || got[0] != "demo-client" || echoed.Path != "/orders" {
		t.Fatalf("echoed identity: %v", echoed)
	}
	if strings.Contains(body, key) {
		t.Fatal("the key reached the upstream")
	}
	resp, _ = gw.Do(t, "POST", "/orders", map[string]string{"Authorization": "Bearer " + key})
	if resp.StatusCode != 403 {
		t.Fatalf("a write with the read-only key: %d, want 403", resp.StatusCode)
	}
}
