package caddymodule

// Attack review of e2e1b3b, continued: a client gone mid-pipeline, a
// Cluster node down, the bucket-key cache, the deny cache and the
// circuit breaker's probe, expiry and a zone named twice.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// holdProxy forwards TCP to a Redis server, holding the server's replies
// while held (the commands reach the server and run).
type holdProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	gate chan struct{} // closed when released; nil: not held
}

// startHoldProxy listens on loopback and forwards to addr.
func startHoldProxy(t *testing.T, addr string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						p.mu.Lock()
						g := p.gate
						p.mu.Unlock()
						if g != nil {
							<-g
						}
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *holdProxy) hold() { p.mu.Lock(); p.gate = make(chan struct{}); p.mu.Unlock() }

func (p *holdProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// TestAttack5ClientGoneMidPipeline: the client goes away (its context
// is cancelled) after Redis ran the read's pipeline, before the replies
// arrive. Whatever the request's fate, the bucket is charged exactly
// when the request was forwarded.
func TestAttack5ClientGoneMidPipeline(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	p := startHoldProxy(t, srv.Addr())
	for _, route := range []struct {
		name string
		h    Handler
	}{{"open", Handler{}}, {"strict", strictRoute}} {
		s := newRedisSessionSetup(t, store.RedisConfig{URL: "redis://" + p.ln.Addr().String()}, route.h, userZone)
		user := "gone-" + route.name
		_, cookie, err := s.h.app.sessions.Create(context.Background(), session.Login{Subject: user})
		if err != nil {
			t.Fatal(err)
		}
		status := 200
		if route.name == "strict" {
			status = http.StatusForbidden
		}
		a5Warm(t, s, cookie, status)
		left := 10
		if status == 200 {
			left = 8
		}
		before := commandCalls(t, srv.Addr())["evalsha"]
		p.hold()
		ctx, cancel := context.WithCancel(context.Background())
		type answer struct {
			code   int
			called bool
		}
		done := make(chan answer, 1)
		go func() {
			code, called, _ := a5Serve(s.h, ctx, nil, cookie)
			done <- answer{code, called}
		}()
		for deadline := time.Now().Add(30 * time.Second); commandCalls(t, srv.Addr())["evalsha"] == before; {
			if time.Now().After(deadline) {
				p.release()
				t.Fatal("the pipeline never reached Redis")
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		time.Sleep(20 * time.Millisecond) // let a cancellation-aware read give up
		p.release()
		var a answer
		select {
		case a = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("request hung")
		}
		t.Logf("%s: client gone: status %d, upstream %v", route.name, a.code, a.called)
		if a.called {
			left--
		}
		a5WantLeft(t, s, 0, user, left)
	}
}

// TestAttack5ClusterSessionNodeDown: on a Cluster, the node holding the
// session is down while the bucket's node is up: the request fails
// closed (503) and the charge the bucket's node made is refunded.
func TestAttack5ClusterSessionNodeDown(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	s := newRedisSessionSetup(t, store.RedisConfig{Addrs: c.Addrs(), Cluster: true}, Handler{}, userZone)
	rl := s.h.app.limiter.(*ratelimit.Redis)
	ctx := context.Background()
	cookie, subject, sessionNode, bucketNode := splitUser(t, s)
	a5Warm(t, s, cookie, 200) // 8 left
	for _, n := range c.Nodes() {
		if n.Addr() == sessionNode {
			n.Stop()
		}
	}
	evalsBefore := commandCalls(t, bucketNode)["evalsha"]
	for range 3 {
		if code, called, _ := a5Serve(s.h, ctx, nil, cookie); code != http.StatusServiceUnavailable || called {
			t.Fatalf("session node down: %d, upstream %v", code, called)
		}
	}
	if n := commandCalls(t, bucketNode)["evalsha"] - evalsBefore; n < 3 {
		t.Fatalf("%d EVALSHA on the bucket's node: not charged speculatively (test is vacuous)", n)
	}
	if st := rl.State(); st != ratelimit.StateClosed {
		t.Errorf("breaker %v, want closed", st)
	}
	a5WantLeft(t, s, 0, subject, 8)
}

// TestAttack5BucketKeyCache: the bucket-key cache answers what computing
// the key would, for keys it holds, keys it evicted and keys too long to
// hold (differing only past the bound), with concurrent users; limiters
// with different secrets never share keys.
func TestAttack5BucketKeyCache(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer client.Close()
	newRL := func(secret string) *ratelimit.Redis {
		rl, err := ratelimit.NewRedis(client, ratelimit.RedisOptions{KeySecret: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		return rl
	}
	type pair struct{ zone, key string }
	var corpus []pair
	long := strings.Repeat("k", 300)
	for i := range 6000 {
		corpus = append(corpus, pair{"z", fmt.Sprint(i)})
	}
	for _, n := range []int{250, 251, 252, 253, 254, 255, 256, 257, 300} {
		base := strings.Repeat("a", n)
		corpus = append(corpus, pair{"z", base}, pair{"z", base[:n-1] + "b"}, pair{"zz", base[1:]})
	}
	corpus = append(corpus, pair{"z", long + "1"}, pair{"z", long + "2"}, pair{"a", "b:c"}, pair{"a:b", "c"},
		pair{"z", "\x00"}, pair{"z", ""}, pair{"z", "\xff\xfe"}, pair{"z", "é"}, pair{"z", "e\u0301"}, pair{"Z", "0"})
	warm := newRL("s1")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3 {
				for j := range corpus {
					c := corpus[(j*(g+1)+i)%len(corpus)]
					_ = warm.BucketKey(c.zone, c.key)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]pair{}
	for _, c := range corpus {
		got, want := warm.BucketKey(c.zone, c.key), newRL("s1").BucketKey(c.zone, c.key)
		if got != want {
			t.Fatalf("%q/%q: cached %q, computed %q", c.zone, c.key, got, want)
		}
		if prev, ok := seen[got]; ok && prev != c {
			t.Fatalf("%q/%q and %q/%q share bucket %q", prev.zone, prev.key, c.zone, c.key, got)
		}
		seen[got] = c
		if other := newRL("s2").BucketKey(c.zone, c.key); other == got {
			t.Fatalf("%q/%q: same bucket under two secrets", c.zone, c.key)
		}
	}
}

// TestAttack5RefundedHoldLeavesDenyCacheRefusal (a finding, mended in
// 252e4a4: Batch.Refund now clears the refusal): while
// a request that will be refused (a 403, a 401) holds its speculative
// charge, an allowed request of the same user on the same replica finds
// the bucket empty and is refused (429); the deny cache remembers that
// refusal until its Retry-After. The refused request's charge is then
// refunded (prepaid.settle, Batch.Refund), which unlike the limiter's
// own refund (Redis.refund) did not forget the deny-cache entry: the
// user's next requests are refused from memory although Redis holds
// the refunded event. Before e2e1b3b a refused request never reached
// the limiter, so it could not cause this. Here the hold is made
// directly with readCharging, as the 403 request's read makes it.
func TestAttack5RefundedHoldLeavesDenyCacheRefusal(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	s := newRedisSessionSetup(t, rc, Handler{}, userZone)
	for left := 9; left >= 1; left-- {
		wantAllowed(t, s.h, s.cookie, left)
	} // one event left
	st, rl, ok := s.h.sessionRedis()
	if !ok {
		t.Fatal("the route does not read sessions and zones in one round trip")
	}
	ctx := context.Background()
	var pre prepaid // the refused request's, during its read
	if _, err := s.h.readCharging(ctx, st, rl, "pcl:{s:gone}", "alice", &pre); err == nil {
		t.Fatal("read a record that does not exist")
	}
	if len(pre.results) != 1 || !pre.results[0].Allowed {
		t.Fatalf("speculative charge %+v, want the last event taken", pre.results)
	}
	// Meanwhile, on the same replica: the bucket is empty (by design).
	if w, _ := sessionRequest(t, s.h, s.cookie); w.Code != http.StatusTooManyRequests {
		t.Fatalf("during the hold: %d, want 429", w.Code)
	}
	pre.settle(ctx) // the refused request is answered: its charge given back
	w, up := sessionRequest(t, s.h, s.cookie)
	if w.Code != 200 || !up.called {
		t.Errorf("after the refund: %d (Retry-After %s), want 200: the bucket holds the refunded event but the deny cache refuses it",
			w.Code, w.Header().Get("Retry-After"))
		a5WantLeft(t, s, 0, "alice", 1) // Redis: the event is there
	}
}

// a5Clock is a settable clock for the limiter's breaker.
type a5Clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *a5Clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *a5Clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestAttack5GoneClientHoldsBreakerProbe (a finding, mended in 252e4a4:
// a batch releases a probe its round trip said nothing about): once the
// limiter's breaker is half-open, the next round trip is its probe.
// A request whose client has already gone (its context cancelled) still
// begins the speculative batch, which takes the probe in Begin; the
// session read then fails at once (the store refuses a done context),
// the batch is neither sent nor finished, and Cancel on a batch never
// queued reports nothing to the breaker. The probe is held for a whole
// cooldown: every other request on every route of the replica gets its
// zones' on_error verdict (deny: 503; allow: no limit at all) meanwhile,
// although Redis is back. Before e2e1b3b such a request never reached
// the limiter. Anyone with a session (their own) can send it, after
// every cooldown, and keep the breaker from closing.
func TestAttack5GoneClientHoldsBreakerProbe(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	s := newRedisSessionSetup(t, store.RedisConfig{URL: srv.URL()}, Handler{}, userZone)
	clock := &a5Clock{t: time.Unix(1_700_000_000, 0)}
	rl, err := ratelimit.NewRedis(s.st.Client(), ratelimit.RedisOptions{Timeout: 10 * time.Second,
		BreakerThreshold: 1, BreakerCooldown: time.Second, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	s.h.app.limiter = rl
	a5Warm(t, s, s.cookie, 200)
	ctx := context.Background()
	// One script failure (a bucket holding garbage) opens the breaker.
	if err := s.st.Client().Set(ctx, rl.BucketKey(userZone.Name, "broken"), "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	open := func() {
		t.Helper()
		if _, err := rl.Allow(ctx, []ratelimit.Request{{Zone: s.h.zones[0], Key: "broken"}}); err == nil || rl.State() != ratelimit.StateOpen {
			t.Fatalf("breaker %v after a script error (%v), want open", rl.State(), err)
		}
		clock.add(2 * time.Second) // cooldown over: the next round trip probes
	}
	// Control: without the gone client, the next request probes and closes it.
	open()
	if res, err := rl.Allow(ctx, []ratelimit.Request{{Zone: s.h.zones[0], Key: "carol"}}); err != nil || res[0].Source != ratelimit.SourceStore || rl.State() != ratelimit.StateClosed {
		t.Fatalf("control: breaker %v, %v", rl.State(), err)
	}
	open()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if code, called, _ := a5Serve(s.h, gone, nil, s.cookie); called {
		t.Fatalf("a request whose client is gone was forwarded (%d)", code)
	}
	// Redis is fine: another user's request should probe and close it.
	res, err := rl.Allow(ctx, []ratelimit.Request{{Zone: s.h.zones[0], Key: "bob"}})
	if err != nil || res[0].Source != ratelimit.SourceStore || rl.State() != ratelimit.StateClosed {
		t.Errorf("after a gone client's request: breaker %v, Allow source %v, %v; want the probe to reach Redis and close it",
			rl.State(), res[0].Source, err)
	}
}

// TestAttack5ExpiredSessionRefunded: a session that timed out (idle)
// while this replica knew it is charged in the read's pipeline, then
// refused (401): the charge is refunded.
func TestAttack5ExpiredSessionRefunded(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	clock := &a5Clock{t: time.Now()}
	s := newRedisSessionSetupAt(t, rc, clock.now, Handler{}, userZone)
	a5Warm(t, s, s.cookie, 200) // 8 left
	clock.add(session.DefaultIdleTimeout + time.Minute)
	if n := s.tripsOf(func() {
		if code, called, _ := a5Serve(s.h, context.Background(), nil, s.cookie); code != http.StatusUnauthorized || called {
			t.Errorf("idle-expired session: %d, upstream %v", code, called)
		}
	}); n != 3 {
		t.Fatalf("%d round trips, want 3 (read and charge, removal, refund)", n)
	}
	a5WantLeft(t, s, 0, "alice", 8)
}

// TestAttack5SameZoneTwice: a route naming the per-user zone twice
// charges its bucket twice per allowed request and refunds both charges
// of a refused one, as the limiter alone does.
func TestAttack5SameZoneTwice(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	open := newRedisSessionSetup(t, rc, Handler{}, userZone)
	open.h.RateLimits = []string{userZone.Name, userZone.Name}
	open.h.zones = nil
	if err := open.h.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(open.h.zones) != 2 || !open.h.zonesBySubject {
		t.Fatalf("zones %v, by subject %v", open.h.zones, open.h.zonesBySubject)
	}
	strict := newRedisSessionSetup(t, rc, strictRoute, userZone)
	strict.h.RateLimits = []string{userZone.Name, userZone.Name}
	strict.h.zones = nil
	if err := strict.h.Validate(); err != nil {
		t.Fatal(err)
	}
	a5Warm(t, strict, open.cookie, http.StatusForbidden)
	codes := map[int]int{}
	for range 8 {
		code, _, _ := a5Serve(open.h, context.Background(), nil, open.cookie)
		codes[code]++
		for range 2 {
			if code, _, _ := a5Serve(strict.h, context.Background(), nil, open.cookie); code != http.StatusForbidden {
				t.Fatalf("strict: %d", code)
			}
		}
	}
	if codes[200] != 5 || codes[http.StatusTooManyRequests] != 3 {
		t.Fatalf("answers %v, want 5 × 200 (two events each of 10), 3 × 429", codes)
	}
	a5WantLeft(t, open, 0, "alice", 0)
}
