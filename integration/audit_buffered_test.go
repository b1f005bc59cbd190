package integration_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

	// A client of its own, whose idle connections are closed before the
	// stop: a connection the transport dialled but never used is, to the
	// server, one whose first request has not come yet, and a graceful
	// shutdown waits up to 5 s for it, past the harness's patience (it
	// then kills the process, which is a crash, not a graceful stop).
	tr := &http.Transport{}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second} // "hung", not "slow"
	var mu sync.Mutex
	ids := map[string]int{} // request id → burst (1 before the reload, 2 after)
	burst := func(n, which int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req, err := http.NewRequest("GET", gw.URL+"/orders", nil)
				if err != nil {
					t.Error(err)
					return
				}
				want := http.StatusOK
				if i%3 == 0 {
					want = http.StatusUnauthorized // a denial is logged too
				} else {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("status %d, want %d", resp.StatusCode, want)
				}
				mu.Lock()
				ids[resp.Header.Get("X-Request-Id")] = which
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	burst(300, 1)
	t.Logf("decision events in the file before the reload: %d of 300", countDecisions(t, file))
	if err := gw.Reload(bufferedAuditGateway(up.Addr, file, block, "30s")); err != nil {
		t.Fatal(err)
	}
	burst(300, 2)
	tr.CloseIdleConnections()
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
	missing := map[int]int{}
	for id, which := range ids {
		if seen[id] != 1 {
			missing[which]++
		}
	}
	if len(missing) != 0 || len(seen) != len(ids) {
		t.Fatalf("after a graceful stop: requests without a single decision event: %d made before the reload, %d after; %d events logged\n%s",
			missing[1], missing[2], len(seen), gw.Logs())
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
