package ratelimit_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit/ratelimittest"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// recorder collects what an Observer reports.
type recorder struct {
	mu          sync.Mutex
	transitions []string
	causes      []error
	redisErrors int
	trips       int
	refused     map[string]int // "zone/source"
}

func (r *recorder) observer() ratelimit.Observer {
	return ratelimit.Observer{
		OnRefused: func(zone string, src ratelimit.Source) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.refused == nil {
				r.refused = map[string]int{}
			}
			r.refused[zone+"/"+src.String()]++
		},
		OnRedisError:   func(error) { r.mu.Lock(); r.redisErrors++; r.mu.Unlock() },
		OnRedisLatency: func(time.Duration) { r.mu.Lock(); r.trips++; r.mu.Unlock() },
		OnStateChange: func(from, to ratelimit.State, err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.transitions = append(r.transitions, from.String()+"->"+to.String())
			r.causes = append(r.causes, err)
		},
	}
}

// counts returns the transitions, Redis errors and round trips so far.
func (r *recorder) counts() ([]string, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.transitions), r.redisErrors, r.trips
}

// percentile returns the p-th percentile (0-100) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*p/100]
}

// openLatencyBound bounds the median call with the breaker open: a fifth
// of one Redis timeout, which a call that waited for Redis (or for any
// timer of that order) cannot beat, while a call that only reads the
// breaker's state takes microseconds. The median, not a high percentile:
// on a loaded machine a few calls in a hundred are descheduled for tens
// of milliseconds whatever they do, but not half of them. That no call
// makes a round trip is counted exactly (Observer.OnRedisLatency).
const openLatencyBound = ratelimit.DefaultRedisTimeout / 5

// TestRedisOutage kills Redis under a limiter and brings it back: requests
// get their zone's OnError verdict with an error, the breaker opens after
// the threshold and then costs no round trip (and no wait: see
// openLatencyBound),
// probes once per cooldown, and closes when Redis is back, without a new
// limiter. Transitions are reported once each.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	// A dead server refuses connections at once: timeouts play no part
	// here (see TestRedisStalled), so they are relaxed for the healthy
	// calls on a loaded machine.
	client := storeClient(t, store.RedisConfig{URL: srv.URL()})
	clock := ratelimittest.NewClock(time.Now()) // the breaker's; Redis keeps its own
	rec := &recorder{}
	l := newLimiter(t, client, ratelimit.RedisOptions{Now: clock.Now, Observer: rec.observer()})
	closed := zone(t, "closed", "10/1m", 2) // OnError deny by default
	open := zone(t, "open", "10/1m", 2)
	open.OnError = ratelimit.OnErrorAllow
	call := func(key string) ([]ratelimit.Result, error, time.Duration) {
		begin := time.Now()
		rs, err := l.Allow(t.Context(), []ratelimit.Request{{Zone: closed, Key: key}, {Zone: open, Key: key}})
		return rs, err, time.Since(begin)
	}
	wantOnError := func(step string, rs []ratelimit.Result, err error, circuitOpen bool) {
		t.Helper()
		if !errors.Is(err, ratelimit.ErrUnavailable) || errors.Is(err, ratelimit.ErrCircuitOpen) != circuitOpen {
			t.Fatalf("%s: error %v, want ErrUnavailable (circuit open: %v)", step, err, circuitOpen)
		}
		if rs[0].Allowed || rs[0].Source != ratelimit.SourceOnError || !rs[1].Allowed || rs[1].Source != ratelimit.SourceOnError {
			t.Fatalf("%s: results %+v, want refused by the deny zone and admitted by the allow zone", step, rs)
		}
	}

	if rs, err, _ := call("before"); err != nil || !ratelimit.Allowed(rs) {
		t.Fatalf("healthy: %+v, %v", rs, err)
	}
	srv.Stop()
	for i := range ratelimit.DefaultBreakerThreshold {
		rs, err, took := call("down")
		wantOnError("down", rs, err, false)
		// A refused connection answers at once; half the limiter's
		// (relaxed) timeout tells "waited for it" from a slow machine.
		if took > relaxedTimeout/2 {
			t.Errorf("failing call %d took %v: it waited instead of failing on the refused connection", i, took)
		}
		if l.State() != ratelimit.StateClosed && i < ratelimit.DefaultBreakerThreshold-1 {
			t.Fatalf("breaker %v after %d failures", l.State(), i+1)
		}
	}
	tr, redisErrors, _ := rec.counts()
	if l.State() != ratelimit.StateOpen || !slices.Equal(tr, []string{"closed->open"}) || rec.causes[0] == nil {
		t.Fatalf("after %d failures: state %v, transitions %v (causes %v)", ratelimit.DefaultBreakerThreshold, l.State(), tr, rec.causes)
	}
	if redisErrors != ratelimit.DefaultBreakerThreshold {
		t.Errorf("%d Redis errors reported, want %d", redisErrors, ratelimit.DefaultBreakerThreshold)
	}

	// Open: no round trips, no reports, fast.
	_, _, tripsBefore := rec.counts()
	var lat []time.Duration
	for range 1000 {
		rs, err, took := call("down")
		wantOnError("open", rs, err, true)
		lat = append(lat, took)
	}
	tr, redisErrors, trips := rec.counts()
	if p := percentile(lat, 50); p >= openLatencyBound {
		t.Errorf("median call with the breaker open = %v, want < %v", p, openLatencyBound)
	}
	t.Logf("breaker open: median %v, p99 %v, max %v over %d calls", percentile(lat, 50), percentile(lat, 99), slices.Max(lat), len(lat))
	if len(tr) != 1 || redisErrors != ratelimit.DefaultBreakerThreshold || trips != tripsBefore {
		t.Errorf("while open: transitions %v, %d errors, %d round trips (had %d); want nothing new", tr, redisErrors, trips, tripsBefore)
	}
	rec.mu.Lock()
	if n := rec.refused[closed.Name+"/on_error"]; n != 1000+ratelimit.DefaultBreakerThreshold {
		t.Errorf("%d on_error refusals reported for the deny zone, want %d", n, 1000+ratelimit.DefaultBreakerThreshold)
	}
	if n := rec.refused[open.Name+"/on_error"]; n != 0 {
		t.Errorf("%d refusals reported for the allow zone", n)
	}
	rec.mu.Unlock()

	// After the cooldown one probe fails: open again for a cooldown.
	clock.Advance(ratelimit.DefaultBreakerCooldown)
	rs, err, _ := call("down")
	wantOnError("probe while down", rs, err, false)
	rs, err, _ = call("down")
	wantOnError("after the failed probe", rs, err, true)
	tr, _, _ = rec.counts()
	if want := []string{"closed->open", "open->half_open", "half_open->open"}; !slices.Equal(tr, want) {
		t.Fatalf("transitions %v, want %v", tr, want)
	}

	// Redis is back: the next probe closes the breaker and limits resume
	// on the same limiter.
	srv.Restart(t)
	clock.Advance(ratelimit.DefaultBreakerCooldown)
	fresh := zone(t, "fresh", "10/1h", 2)
	admitted := 0
	for range 5 {
		rs, err := l.Allow(t.Context(), []ratelimit.Request{{Zone: fresh, Key: "k"}})
		if err != nil || rs[0].Source != ratelimit.SourceStore {
			t.Fatalf("after restart: %+v, %v", rs, err)
		}
		if rs[0].Allowed {
			admitted++
		}
	}
	tr, _, _ = rec.counts()
	if want := []string{"closed->open", "open->half_open", "half_open->open", "open->half_open", "half_open->closed"}; !slices.Equal(tr, want) || l.State() != ratelimit.StateClosed {
		t.Fatalf("transitions %v (state %v), want %v", tr, l.State(), want)
	}
	if admitted != 3 {
		t.Errorf("after restart admitted %d of 5, want 3", admitted)
	}
}

// TestRedisStalled checks the per-call timeout against a Redis that
// accepts connections but never answers: each call costs the 50 ms
// default (at least that, and far less than the client's own timeout)
// until the breaker opens, then nothing.
func TestRedisStalled(t *testing.T) {
	t.Parallel()
	f := startSilentRedis(t)
	// Client timeouts far above ours: the limiter's own deadline must do.
	const clientTimeout = 30 * time.Second
	client := redis.NewClient(&redis.Options{Addr: f.addr(), ContextTimeoutEnabled: true, ReadTimeout: clientTimeout, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	l, err := ratelimit.NewRedis(client, ratelimit.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	z := zone(t, "z", "10/1m", 2)
	var lat []time.Duration
	for i := range 200 {
		begin := time.Now()
		rs, err := l.Allow(t.Context(), []ratelimit.Request{{Zone: z, Key: "k"}})
		took := time.Since(begin)
		if !errors.Is(err, ratelimit.ErrUnavailable) || rs[0].Allowed {
			t.Fatalf("call %d: %+v, %v; want refused with ErrUnavailable", i, rs, err)
		}
		if i < ratelimit.DefaultBreakerThreshold {
			// Never less than the timeout; the upper bound only tells
			// "the limiter's deadline fired" from "the client's did".
			if took < ratelimit.DefaultRedisTimeout || took > clientTimeout/3 {
				t.Errorf("call %d took %v, want about %v (and far less than the client's %v)", i, took, ratelimit.DefaultRedisTimeout, clientTimeout)
			}
			continue
		}
		lat = append(lat, took)
	}
	if p := percentile(lat, 50); p >= openLatencyBound {
		t.Errorf("median call with the breaker open = %v, want < %v", p, openLatencyBound)
	}
	if l.State() != ratelimit.StateOpen {
		t.Errorf("state %v, want open", l.State())
	}
}

// TestRedisNotRetried checks that a script whose reply timed out is never
// sent again (go-redis would retry a plain EVALSHA, which would charge the
// bucket twice), for each zone of a pipelined request.
func TestRedisNotRetried(t *testing.T) {
	t.Parallel()
	f := startSilentRedis(t)
	// The read timeout only bounds the control below, whose reply never
	// comes; the fake answers handshakes at once, and a second is far
	// more than that takes on any machine.
	client := redis.NewClient(&redis.Options{
		Addr: f.addr(), ContextTimeoutEnabled: true, PoolSize: 1,
		ReadTimeout: time.Second, MaxRetries: 1, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: time.Millisecond,
	})
	t.Cleanup(func() { client.Close() })
	// Connect (handshake) before counting.
	for i := 0; client.Ping(t.Context()).Err() != nil; i++ {
		if i == 10 {
			t.Fatal("cannot connect to the fake server")
		}
	}
	l := newLimiter(t, client, ratelimit.RedisOptions{})
	reqs := []ratelimit.Request{
		{Zone: zone(t, "a", "1/s", 0), Key: "k"},
		{Zone: zone(t, "b", "1/s", 0), Key: "k"},
		{Zone: zone(t, "c", "1/s", 0), Key: "k"},
	}
	if _, err := l.Allow(t.Context(), reqs); !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Fatalf("Allow = %v, want ErrUnavailable", err)
	}
	if got := f.scriptCount(); got != len(reqs) {
		t.Errorf("%d scripts sent for %d zones, want each once", got, len(reqs))
	}
	// The control: go-redis retries a plain EVALSHA (MaxRetries times),
	// so the count above would have seen a retry.
	_ = client.EvalSha(t.Context(), "0123", []string{"k"}).Err()
	if got := f.scriptCount() - len(reqs); got != 2 {
		t.Errorf("control: a plain EVALSHA was sent %d times, want 2 (retried once)", got)
	}
}

// TestRedisCallerGaveUp checks that a request the caller cancelled says
// nothing about Redis: no error reported, the breaker stays closed.
func TestRedisCallerGaveUp(t *testing.T) {
	t.Parallel()
	f := startSilentRedis(t)
	client := redis.NewClient(&redis.Options{Addr: f.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	rec := &recorder{}
	l := newLimiter(t, client, ratelimit.RedisOptions{Observer: rec.observer()})
	z := zone(t, "z", "10/1m", 2)
	for range 2 * ratelimit.DefaultBreakerThreshold {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
		_, err := l.Allow(ctx, []ratelimit.Request{{Zone: z, Key: "k"}})
		cancel()
		if !errors.Is(err, ratelimit.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Allow = %v, want ErrUnavailable and the caller's deadline", err)
		}
	}
	if tr, errs, _ := rec.counts(); l.State() != ratelimit.StateClosed || len(tr) != 0 || errs != 0 {
		t.Errorf("state %v, transitions %v, %d Redis errors; want closed and nothing reported", l.State(), tr, errs)
	}
}
