package integration_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestReloadUnderLoad reloads the gateway with `portcullis reload` while
// clients keep sending authenticated requests: no request may fail, and
// the new configuration (a second key) takes effect.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	key1, block1 := newKey(t, "--subject", "one", "--scopes", "orders:read")
	key2, block2 := newKey(t, "--subject", "two", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, apiKeyGateway(up.Addr, "store memory", block1))

	if resp, _ := gw.Do(t, "GET", "/", map[string]string{"Authorization": "Bearer " + key2}); resp.StatusCode != 401 {
		t.Fatalf("second key before reload: %d, want 401", resp.StatusCode)
	}
	var stop atomic.Bool
	var sent, failed, connErrs atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			// New connections for every request: a keep-alive connection the
			// old server closes while idle can race a client's next request
			// (EOF), which is HTTP/1.1's, not the gateway's; what this test
			// checks is that no request is refused by the reload.
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for !stop.Load() {
				req, _ := http.NewRequest("GET", gw.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+key1)
				resp, err := c.Do(req)
				sent.Add(1)
				switch {
				case err != nil:
					// Caddy hands its listening socket to the new server on a
					// reload; a connection caught in that handoff is reset.
					// Plain Caddy shows the same (about 2 in 1,000 here).
					connErrs.Add(1)
				case resp.StatusCode != 200:
					failed.Add(1)
					mu.Lock()
					failures = append(failures, resp.Status)
					mu.Unlock()
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	// Load before and after the reload is counted in requests, not in
	// time, so a busy machine sends as many as an idle one.
	waitSent := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second) // "hung", not "slow"
		for sent.Load() < n {
			if time.Now().After(deadline) {
				stop.Store(true)
				t.Fatalf("only %d requests sent in a minute", sent.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSent(20)
	if err := gw.Reload(apiKeyGateway(up.Addr, "store memory", block1+"\n"+block2)); err != nil {
		t.Fatal(err)
	}
	waitSent(sent.Load() + 20)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests across the reload, %d connection resets in Caddy's listener handoff", sent.Load(), connErrs.Load())
	if n := connErrs.Load(); n > 5 && n*50 > sent.Load() {
		t.Fatalf("%d of %d requests hit connection errors", connErrs.Load(), sent.Load())
	}
	if failed.Load() != 0 || sent.Load() < 10 {
		t.Fatalf("%d of %d requests failed across the reload: %v", failed.Load(), sent.Load(), failures)
	}
	if resp, _ := gw.Do(t, "GET", "/", map[string]string{"Authorization": "Bearer " + key2}); resp.StatusCode != 200 {
		t.Fatalf("second key after reload: %d, want 200", resp.StatusCode)
	}
}
