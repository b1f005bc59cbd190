package integration_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// bufferedAuditGateway writes the portcullis.audit logger through the
// batching writer into a file; flush is its flush_interval.
func bufferedAuditGateway(upstream, auditFile, keyBlock, flush string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	log audit {
		include portcullis.audit
		output portcullis_buffered {
			flush_interval %s
			max_size 64MiB
			output file %s
		}
		format json
	}
	portcullis {
		api_keys {
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
`, p.Global(), flush, auditFile, keyBlock, p.HTTP, upstream)
	}
}

// TestAuditBufferedWriterLosesNothing makes requests through a gateway
// whose audit log is batched with a long interval and a large size (so
// lines wait in memory), reloads it with another interval (Caddy closes
// the old writer: it writes its batch), makes more, stops the gateway
// gracefully (SIGTERM), and then counts the decision events in the file
// against the requests made, by request id.
func TestAuditBufferedWriterLosesNothing(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	file := filepath.Join(t.TempDir(), "audit.log")
	gw := harness.StartGateway(t, bufferedAuditGateway(up.Addr, file, block, "1m"))

	var mu sync.Mutex
	ids := map[string]int{}
	burst := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				h := map[string]string{"Authorization": "Bearer " + key}
				want := http.StatusOK
				if i%3 == 0 {
					h, want = nil, http.StatusUnauthorized // a denial is logged too
				}
				resp, _ := gw.Do(t, "GET", "/orders", h)
				if resp.StatusCode != want {
					t.Errorf("status %d, want %d", resp.StatusCode, want)
				}
				mu.Lock()
				ids[resp.Header.Get("X-Request-Id")]++
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	burst(300)
	t.Logf("decision events in the file before the reload: %d of 300", countDecisions(t, file))
	if err := gw.Reload(bufferedAuditGateway(up.Addr, file, block, "30s")); err != nil {
		t.Fatal(err)
	}
	burst(300)
	gw.Stop()

	seen := map[string]int{}
	for _, e := range readEvents(t, file, 0) {
		if e["event"] == "decision" {
			id, _ := e["request_id"].(string)
			seen[id]++
		}
	}
	if len(ids) != 600 {
		t.Fatalf("%d distinct request ids for 600 requests", len(ids))
	}
	missing := 0
	for id := range ids {
		if seen[id] != 1 {
			missing++
		}
	}
	if missing != 0 || len(seen) != len(ids) {
		t.Fatalf("after a graceful stop: %d of %d requests have no single decision event; %d events logged", missing, len(ids), len(seen))
	}
}

// countDecisions counts the decision events in an audit file now,
// without parsing (a batch may be half written while it reads).
func countDecisions(t *testing.T, file string) int {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Count(string(raw), `"event":"decision"`)
}
