package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
