package integration_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// rateGateway applies one zone keyed by the API key's subject.
func rateGateway(upstream, storeLine, keyBlock, zone string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		api_keys {
			%s
		}
		rate_limit %s
	}
}

http://127.0.0.1:%d {
	portcullis {
		audit_allowed off
		rate_limit shared
	}
	reverse_proxy %s
}
`, p.Global(), storeLine, keyBlock, zone, p.HTTP, upstream)
	}
}

// TestRateLimitExactAcrossReplicas: three gateways sharing one Redis
// (standalone and cluster), thirty concurrent clients on one key for 10 s
// against 100/10s burst 10: the total admitted is within 1% of the exact
// allowance, and every refusal is a 429 with a correct Retry-After.
func TestRateLimitExactAcrossReplicas(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "one-client")
	stores := map[string]string{
		// A generous timeout: this test measures exactness on a loaded
		// 2-core machine running the race detector, not outage behaviour.
		"standalone": "store " + redistest.SharedStandalone(t).URL() + " {\n\t\t\ttimeout 1s\n\t\t}",
		"cluster":    fmt.Sprintf("store {\n\t\t\taddresses %s\n\t\t\tcluster\n\t\t\ttimeout 1s\n\t\t}", strings.Join(redistest.SharedCluster(t).Addrs(), " ")),
	}
	for name, storeLine := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := harness.StartUpstream(t)
			zone := "shared 100/10s burst 10 key {http.auth.user.id}-" + strings.ReplaceAll(name, " ", "")
			var gws []*harness.Gateway
			for range 3 {
				gws = append(gws, harness.StartGateway(t, rateGateway(up.Addr, storeLine, block, zone)))
			}
			var admitted, refused, badRetry atomic.Int64
			var mu sync.Mutex
			var other []int
			start := time.Now()
			stop := start.Add(10 * time.Second)
			var wg sync.WaitGroup
			for i := range 30 {
				gw := gws[i%3]
				wg.Go(func() {
					c := &http.Client{Timeout: 5 * time.Second}
					for time.Now().Before(stop) {
						req, _ := http.NewRequest("GET", gw.URL+"/r", nil)
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := c.Do(req)
						if err != nil {
							continue
						}
						resp.Body.Close()
						switch resp.StatusCode {
						case 200:
							admitted.Add(1)
						case 429:
							refused.Add(1)
							if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 1 {
								badRetry.Add(1)
							}
						default:
							mu.Lock()
							other = append(other, resp.StatusCode)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			// A fresh bucket admits burst+1 at once, then one per 100 ms.
			exact := 11 + int64(elapsed/(100*time.Millisecond))
			got := admitted.Load()
			t.Logf("%s: admitted %d, exact allowance %d over %v, refused %d", name, got, exact, elapsed, refused.Load())
			if diff := got - exact; diff < -exact/100-1 || diff > exact/100+1 {
				t.Fatalf("admitted %d, want %d ±1%%", got, exact)
			}
			if len(other) > 0 || badRetry.Load() > 0 || refused.Load() == 0 {
				t.Fatalf("other statuses %v, bad Retry-After %d, refused %d", slices.Compact(other), badRetry.Load(), refused.Load())
			}
			if !strings.Contains(gws[0].Logs()+gws[1].Logs()+gws[2].Logs(), `"event":"rate_limited"`) {
				t.Error("no rate_limited audit event")
			}
			if int64(up.Count()) != got {
				t.Fatalf("the upstream saw %d requests, want exactly the %d admitted", up.Count(), got)
			}
		})
	}
}

// TestRateLimitRedisOutage kills Redis under load: a deny zone answers 503
// quickly, an allow zone passes, and limits resume when Redis is back,
// without a gateway restart.
func TestRateLimitRedisOutage(t *testing.T) {
	t.Parallel()
	redis := redistest.StartStandalone(t)
	k2, block := newKey(t, "--subject", "outage-client")
	up := harness.StartUpstream(t)
	deny := harness.StartGateway(t, rateGateway(up.Addr, "store "+redis.URL(), block, "shared 1000/1s on_error deny"))
	allow := harness.StartGateway(t, rateGateway(up.Addr, "store "+redis.URL(), block, "shared 1000/1s on_error allow"))
	call := func(gw *harness.Gateway) (int, time.Duration) {
		t0 := time.Now()
		resp, _ := gw.Do(t, "GET", "/r", map[string]string{"Authorization": "Bearer " + k2})
		return resp.StatusCode, time.Since(t0)
	}
	if c, _ := call(deny); c != 200 {
		t.Fatalf("before the outage: %d", c)
	}
	redis.Stop()
	var lat []time.Duration
	for range 200 {
		c, d := call(deny)
		if c != 503 {
			t.Fatalf("deny zone with Redis down: %d, want 503", c)
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("deny zone with Redis down: p99 %v", p99)
	if p99 > 100*time.Millisecond {
		t.Fatalf("p99 with Redis down is %v, want under 100ms", p99)
	}
	if c, _ := call(allow); c != 200 {
		t.Fatalf("allow zone with Redis down: %d, want 200", c)
	}
	if !strings.Contains(deny.Logs(), "Redis unreachable") {
		t.Error("the outage was not logged")
	}
	if n := strings.Count(deny.Logs(), "Redis unreachable"); n > 3 {
		t.Errorf("the outage was logged %d times; want once per state change", n)
	}
	redis.Restart(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _ := call(deny); c == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("limits did not resume after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
