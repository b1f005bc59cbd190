package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// Attack review of e2e1b3b (a session read and its zones in one
// pipeline): quota is measured exactly, by probing the bucket after the
// requests (a probe charges one and reports what is left).

// strictRoute needs a scope alice does not have: authorization refuses
// (403) after the speculative charge.
var strictRoute = Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}}}}

// a5Serve serves one request carrying cookie through h with ctx and w (a
// recorder when nil), without t.Fatal (safe from other goroutines), and
// returns the status and whether the upstream was called.
func a5Serve(h *Handler, ctx context.Context, w http.ResponseWriter, cookie *http.Cookie) (int, bool, error) {
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil).WithContext(ctx)
	r.Header["Cookie"] = []string{cookie.Name + "=" + cookie.Value}
	r.Header["Accept"] = []string{"application/json"}
	rec, _ := w.(*httptest.ResponseRecorder)
	if w == nil {
		rec = httptest.NewRecorder()
		w = rec
	}
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	up := &upstream{}
	err := h.ServeHTTP(w, r, up)
	code := 0
	if rec != nil {
		code = rec.Code
	}
	return code, up.called, err
}

// a5Probe charges one event to user's bucket in zone i of s's route and
// returns the result: Remaining is what was left before, minus one. It
// asks Redis through a limiter of its own, without a deny cache, so it
// reads the bucket, not a replica's memory of a refusal.
func a5Probe(t *testing.T, s *redisSessionSetup, i int, user string) ratelimit.Result {
	t.Helper()
	rl, err := ratelimit.NewRedis(s.st.Client(), ratelimit.RedisOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rl.Allow(context.Background(), []ratelimit.Request{{Zone: s.h.zones[i], Key: user}})
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	return res[0]
}

// a5WantLeft wants exactly left events in user's bucket of zone i
// (spending one of them to look, when there is one).
func a5WantLeft(t *testing.T, s *redisSessionSetup, i int, user string, left int) {
	t.Helper()
	res := a5Probe(t, s, i, user)
	switch {
	case left == 0 && res.Allowed:
		t.Fatalf("%s: bucket admits a probe (remaining %d), want it empty", user, res.Remaining)
	case left > 0 && (!res.Allowed || res.Remaining != left-1):
		t.Fatalf("%s: probe allowed %v remaining %d, want %d left", user, res.Allowed, res.Remaining, left)
	}
}

// a5Warm makes s's manager decode alice's record (so that later reads
// charge speculatively) and loads the script, with requests that end in
// status each.
func a5Warm(t *testing.T, s *redisSessionSetup, cookie *http.Cookie, status int) {
	t.Helper()
	for range 2 {
		if code, _, err := a5Serve(s.h, context.Background(), nil, cookie); code != status || err != nil {
			t.Fatalf("warm-up: status %d (%v), want %d", code, err, status)
		}
	}
}

// TestAttack5RacingRefusedAndAllowedExact: alice fires requests a route
// allows and requests a route refuses (403, charged speculatively and
// refunded) at the same time. The refused ones never consume: after the
// storm the bucket holds exactly its capacity minus the requests allowed.
func TestAttack5RacingRefusedAndAllowedExact(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	open := newRedisSessionSetup(t, rc, Handler{}, userZone)
	strict := newRedisSessionSetup(t, rc, strictRoute, userZone)
	for round := range 3 {
		// A user of its own per round: the deny caches know nothing of it.
		user := fmt.Sprintf("user-%d", round)
		_, cookie, err := open.h.app.sessions.Create(context.Background(), session.Login{Subject: user})
		if err != nil {
			t.Fatal(err)
		}
		a5Warm(t, strict, cookie, http.StatusForbidden)
		a5Warm(t, open, cookie, 200) // 8 left
		var mu sync.Mutex
		codes := map[string]map[int]int{"open": {}, "strict": {}}
		var wg sync.WaitGroup
		for i := range 36 {
			s, name := open, "open"
			if i%3 != 0 {
				s, name = strict, "strict"
			}
			wg.Go(func() {
				code, called, err := a5Serve(s.h, context.Background(), nil, cookie)
				if err != nil || called != (code == 200) {
					t.Errorf("%s: status %d, upstream %v, %v", name, code, called, err)
				}
				mu.Lock()
				codes[name][code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if codes["strict"][http.StatusForbidden] != 24 {
			t.Fatalf("round %d: strict answers %v, want 24 × 403", round, codes["strict"])
		}
		allowed := codes["open"][200]
		if allowed+codes["open"][http.StatusTooManyRequests] != 12 || allowed > 8 {
			t.Fatalf("round %d: open answers %v", round, codes["open"])
		}
		t.Logf("round %d: %d of 12 allowed", round, allowed)
		a5WantLeft(t, open, 0, user, 8-allowed)
	}
}

// TestAttack5ConcurrentExact: concurrent requests of one user on one
// replica are admitted exactly as many times as the bucket holds.
func TestAttack5ConcurrentExact(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	s := newRedisSessionSetup(t, rc, Handler{}, userZone)
	wantAllowed(t, s.h, s.cookie, 9)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			code, _, err := a5Serve(s.h, context.Background(), nil, s.cookie)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 9 || codes[http.StatusTooManyRequests] != 31 {
		t.Fatalf("answers %v, want 9 × 200 and 31 × 429", codes)
	}
	a5WantLeft(t, s, 0, "alice", 0)
}

// TestAttack5SeveralZonesExact: two per-user zones of different sizes
// are charged in the read's pipeline; once the small one refuses, the
// large one is not charged (refunded), and a refused route charges
// neither.
func TestAttack5SeveralZonesExact(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	small := RateLimitZoneConfig{Name: "small", Rate: "3/1h", Burst: 2}
	open := newRedisSessionSetup(t, rc, Handler{}, small, userZone)
	strict := newRedisSessionSetup(t, rc, strictRoute, small, userZone)
	codes := map[int]int{}
	for range 7 {
		code, _, err := a5Serve(open.h, context.Background(), nil, open.cookie)
		if err != nil {
			t.Fatal(err)
		}
		codes[code]++
		for range 2 {
			if code, _, _ := a5Serve(strict.h, context.Background(), nil, open.cookie); code != http.StatusForbidden {
				t.Fatalf("strict: %d", code)
			}
		}
	}
	if codes[200] != 3 || codes[http.StatusTooManyRequests] != 4 {
		t.Fatalf("answers %v, want 3 × 200, 4 × 429", codes)
	}
	a5WantLeft(t, open, 1, "alice", 10-3)
	a5WantLeft(t, open, 0, "alice", 0)
}

// panicWriter panics when the answer is written.
type panicWriter struct{ *httptest.ResponseRecorder }

func (p panicWriter) WriteHeader(int)           { panic("a5: writer panics") }
func (p panicWriter) Write([]byte) (int, error) { panic("a5: writer panics") }

// TestAttack5PanicRefunds: a handler that panics after the speculative
// charge (here writing the 403) still refunds it on the way out.
func TestAttack5PanicRefunds(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	strict := newRedisSessionSetup(t, rc, strictRoute, userZone)
	a5Warm(t, strict, strict.cookie, http.StatusForbidden)
	for range 5 {
		n := strict.tripsOf(func() {
			defer func() {
				if v := recover(); v == nil {
					t.Error("the writer did not panic")
				}
			}()
			_, _, _ = a5Serve(strict.h, context.Background(), panicWriter{httptest.NewRecorder()}, strict.cookie)
		})
		if n != 2 { // the read with its charge, then the refund
			t.Fatalf("panicking request: %d round trips, want 2 (charge and refund)", n)
		}
	}
	a5WantLeft(t, strict, 0, "alice", 10)
}

// TestAttack5AnonymousStaleCookie: on an allow_anonymous route, a cookie
// whose session ended on another replica is charged to its former
// subject in the read's pipeline; the request goes on anonymous, keyed
// by the client address, and the subject's charge is refunded.
func TestAttack5AnonymousStaleCookie(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	a := newRedisSessionSetup(t, rc, Handler{AllowAnonymous: []string{"/*"}}, userZone)
	b := newRedisSessionSetup(t, rc, Handler{}, userZone)
	wantAllowed(t, a.h, a.cookie, 9)
	wantAllowed(t, a.h, a.cookie, 8)
	r := httptest.NewRequest("GET", "http://gw.test/.portcullis/logout", nil)
	r.AddCookie(a.cookie)
	if _, _, err := b.h.app.sessions.Logout(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var w *httptest.ResponseRecorder
	var up *upstream
	if n := a.tripsOf(func() { w, up = sessionRequest(t, a.h, a.cookie) }); n < 3 {
		t.Fatalf("%d round trips: the stale cookie was not charged speculatively (test is vacuous)", n)
	}
	if w.Code != 200 || !up.called || up.header.Get("X-Auth-Subject") != "" {
		t.Fatalf("stale cookie, anonymous route: %d, upstream %v, subject %q", w.Code, up.called, up.header.Get("X-Auth-Subject"))
	}
	if got := remaining(t, w); got != 9 {
		t.Fatalf("anonymous bucket remaining %d, want 9 (charged once)", got)
	}
	a5WantLeft(t, a, 0, "alice", 8)
}

// TestAttack5ScriptFlushMidRun: SCRIPT FLUSH before each request (the
// read's EVALSHA answers NOSCRIPT, EVAL follows) neither double-charges
// an allowed request nor leaves a refused one charged.
func TestAttack5ScriptFlushMidRun(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	rc := store.RedisConfig{URL: srv.URL()}
	open := newRedisSessionSetup(t, rc, Handler{}, userZone)
	strict := newRedisSessionSetup(t, rc, strictRoute, userZone)
	a5Warm(t, strict, open.cookie, http.StatusForbidden)
	wantAllowed(t, open.h, open.cookie, 9)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	flush := func() {
		if err := c.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before := commandCalls(t, srv.Addr())["eval"]
	for i := range 4 {
		flush()
		if code, _, _ := a5Serve(strict.h, context.Background(), nil, open.cookie); code != http.StatusForbidden {
			t.Fatalf("strict: %d", code)
		}
		flush()
		wantAllowed(t, open.h, open.cookie, 8-i)
	}
	if got := commandCalls(t, srv.Addr())["eval"] - before; got < 8 {
		t.Fatalf("%d EVAL calls: the flushes did not reach the pipeline (test is vacuous)", got)
	}
	a5WantLeft(t, open, 0, "alice", 5)
}

// TestAttack5LargeRecord: a record over the record cache's 8 KiB bound
// is never decoded into the cache, so its reads never charge in advance
// (two round trips), and counts stay exact.
func TestAttack5LargeRecord(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	open := newRedisSessionSetup(t, rc, Handler{}, userZone)
	strict := newRedisSessionSetup(t, rc, strictRoute, userZone)
	groups := make([]string, 400)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%04d-%s", i, strings.Repeat("x", 24))
	}
	_, cookie, err := open.h.app.sessions.Create(context.Background(), session.Login{Subject: "alice",
		Claims: session.Claims{Name: "Alice", Groups: groups}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// The first request also dials and loads the script.
		if n := open.tripsOf(func() { wantAllowed(t, open.h, cookie, 9-i) }); n != 2 && i > 0 {
			t.Fatalf("large record: %d round trips, want 2 (read, then the zone)", n)
		}
		if n := strict.tripsOf(func() {
			if code, _, _ := a5Serve(strict.h, context.Background(), nil, cookie); code != http.StatusForbidden {
				t.Fatalf("strict: %d", code)
			}
		}); n != 1 && i > 0 {
			t.Fatalf("large record refused: %d round trips, want 1 (no charge)", n)
		}
	}
	a5WantLeft(t, open, 0, "alice", 7)
}

// TestAttack5ChainedHandlers: a second portcullis handler of the same
// request keeps the first's principal and reads no session: each
// handler's zones are charged once, by the one that applies them.
func TestAttack5ChainedHandlers(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	first := newRedisSessionSetup(t, rc, Handler{}, userZone)
	refusing := newRedisSessionSetup(t, rc, strictRoute, userZone)
	second := newRedisSessionSetup(t, rc, Handler{}, userZone)
	a5Warm(t, refusing, first.cookie, http.StatusForbidden)
	a5Warm(t, second, first.cookie, 200) // 8 left
	chain := func(then *Handler) (int, bool) {
		r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
		r.Header["Cookie"] = []string{first.cookie.Name + "=" + first.cookie.Value}
		r.Header["Accept"] = []string{"application/json"}
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		up := &upstream{}
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return then.ServeHTTP(w, r, up) })
		if err := first.h.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		return w.Code, up.called
	}
	a5Warm(t, first, first.cookie, 200) // 6 left
	for range 2 {
		if code, called := chain(refusing.h); code != http.StatusForbidden || called {
			t.Fatalf("then refusing: %d, upstream %v", code, called)
		}
	}
	// The first handler allowed and charged (as before the change): 4 left.
	if code, called := chain(second.h); code != 200 || !called {
		t.Fatalf("then open: %d, upstream %v", code, called)
	}
	a5WantLeft(t, first, 0, "alice", 2)
}

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
	cc := s.st.Client().(*redis.ClusterClient)
	rl := s.h.app.limiter.(*ratelimit.Redis)
	ctx := context.Background()
	nodeOf := func(key string) string {
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}
	sessionKeys := func() []string {
		var mu sync.Mutex
		var keys []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			ks, err := m.Keys(ctx, "pcl:{s:*").Result()
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, ks...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var cookie *http.Cookie
	var subject, sessionNode string
	for i := 0; cookie == nil && i < 64; i++ {
		before := sessionKeys()
		sub := fmt.Sprintf("user-%d", i)
		_, ck, err := s.h.app.sessions.Create(ctx, session.Login{Subject: sub})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range sessionKeys() {
			if !slices.Contains(before, k) && nodeOf(k) != nodeOf(rl.BucketKey(userZone.Name, sub)) {
				cookie, subject, sessionNode = ck, sub, nodeOf(k)
			}
		}
	}
	if cookie == nil {
		t.Fatal("no user whose bucket and session are on different nodes")
	}
	a5Warm(t, s, cookie, 200) // 8 left
	for _, n := range c.Nodes() {
		if n.Addr() == sessionNode {
			n.Stop()
		}
	}
	evalsBefore := commandCalls(t, nodeOf(rl.BucketKey(userZone.Name, subject)))["evalsha"]
	for range 3 {
		if code, called, _ := a5Serve(s.h, ctx, nil, cookie); code != http.StatusServiceUnavailable || called {
			t.Fatalf("session node down: %d, upstream %v", code, called)
		}
	}
	if n := commandCalls(t, nodeOf(rl.BucketKey(userZone.Name, subject)))["evalsha"] - evalsBefore; n < 3 {
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

// TestAttack5RefundedHoldLeavesDenyCacheRefusal (FAILS: finding): while
// a request that will be refused (a 403, a 401) holds its speculative
// charge, an allowed request of the same user on the same replica finds
// the bucket empty and is refused (429); the deny cache remembers that
// refusal until its Retry-After. The refused request's charge is then
// refunded (prepaid.settle, Batch.Refund), which unlike the limiter's
// own refund (Redis.refund) does not forget the deny-cache entry: the
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

// TestAttack5GoneClientHoldsBreakerProbe (FAILS: finding): once the
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
