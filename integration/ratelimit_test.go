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
// against 100/10s burst 10: the total admitted never exceeds the exact
// allowance of the run and is at least the allowance of the time requests
// were surely being decided (within 1% of each other on an idle machine),
// and every refusal is a 429 with a correct Retry-After.
//
// The bounds come from times measured in the run, as in ratelimittest's
// concurrency check: the upper from the whole run, the lower from the
// first reply to the last request sent, less any pause in replies longer
// than the bucket's window (when it may have filled up unused), less one
// event at each end. A busy machine widens them by what it cost, no more.
func TestRateLimitExactAcrossReplicas(t *testing.T) {
	t.Parallel()
	key, block := newKey(t, "--subject", "one-client")
	stores := map[string]string{
		// This test measures exactness, not outage behaviour.
		"standalone": redisStore(redistest.SharedStandalone(t).URL()),
		"cluster":    redisClusterStore(redistest.SharedCluster(t).Addrs()),
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
			// Replies, for the lower bound: the first one, the last request
			// sent, and the time replies paused for more than a window.
			const iv, window = 100 * time.Millisecond, 11 * 100 * time.Millisecond
			var firstReply, lastSent time.Time
			var lastReply, stalled atomic.Int64
			start := time.Now()
			lastReply.Store(start.UnixNano())
			stop := start.Add(10 * time.Second)
			var wg sync.WaitGroup
			for i := range 30 {
				gw := gws[i%3]
				wg.Go(func() {
					c := &http.Client{Timeout: 30 * time.Second}
					var first, last time.Time
					defer func() {
						mu.Lock()
						defer mu.Unlock()
						if !first.IsZero() && (firstReply.IsZero() || first.Before(firstReply)) {
							firstReply = first
						}
						if last.After(lastSent) {
							lastSent = last
						}
					}()
					for {
						sent := time.Now()
						if !sent.Before(stop) {
							return
						}
						req, _ := http.NewRequest("GET", gw.URL+"/r", nil)
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := c.Do(req)
						if err != nil {
							continue
						}
						resp.Body.Close()
						now := time.Now()
						if first.IsZero() {
							first = now
						}
						last = sent
						if gap := now.UnixNano() - lastReply.Swap(now.UnixNano()) - int64(window); gap > 0 {
							stalled.Add(gap)
						}
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
			upper := 11 + int64(elapsed/iv)
			lower := 11 + int64((lastSent.Sub(firstReply)-time.Duration(stalled.Load()))/iv) - 2
			got := admitted.Load()
			t.Logf("%s: admitted %d over %v, bounds [%d, %d] (replies paused %v), refused %d",
				name, got, elapsed.Round(time.Millisecond), lower, upper, time.Duration(stalled.Load()), refused.Load())
			if got > upper || got < lower {
				t.Fatalf("admitted %d, want within [%d, %d]", got, lower, upper)
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
	// The gateways keep the 50 ms production timeout (this test is about
	// the outage), which a busy machine can exceed on a healthy Redis:
	// the zone may refuse a call or two before it first admits one.
	waitAdmitted := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second) // "hung", not "slow"
		for {
			if c, _ := call(deny); c == 200 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the deny zone admits nothing", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitAdmitted("before the outage")
	redis.Stop()
	// Refusals cost no more than a request that never reaches the rate
	// limiter: the median of each, interleaved so that both see the same
	// machine, differ by far less than one Redis timeout (which a call
	// paying it would add).
	var lat, base []time.Duration
	for range 200 {
		c, d := call(deny)
		if c != 503 {
			t.Fatalf("deny zone with Redis down: %d, want 503", c)
		}
		lat = append(lat, d)
		t0 := time.Now()
		if resp, _ := deny.Do(t, "GET", "/.portcullis/healthz", nil); resp.StatusCode != 200 {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
		base = append(base, time.Since(t0))
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	const redisTimeout = 50 * time.Millisecond // the store's default
	refusal, probe := median(lat), median(base)
	t.Logf("deny zone with Redis down: median %v, p99 %v; healthz median %v", refusal, lat[len(lat)*99/100], probe)
	if refusal-probe >= redisTimeout/2 {
		t.Fatalf("a refusal with Redis down takes %v more than a probe (median), want far less than the %v Redis timeout", refusal-probe, redisTimeout)
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
	waitAdmitted("after Redis came back (limits must resume)")
}
