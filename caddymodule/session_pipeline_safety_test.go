package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// wantRefused serves a request and wants it refused with status, the
// upstream not called, in trips round trips (any when negative).
func wantRefused(t *testing.T, s *redisSessionSetup, cookie *http.Cookie, status int, trips int64) {
	t.Helper()
	var w *httptest.ResponseRecorder
	var up *upstream
	if n := s.tripsOf(func() { w, up = sessionRequest(t, s.h, cookie) }); trips >= 0 && n != trips {
		t.Errorf("refused request: %d round trips, want %d", n, trips)
	}
	if w.Code != status || up.called {
		t.Fatalf("status %d, upstream %v, want %d and no upstream: %s", w.Code, up.called, status, w.Body)
	}
}

// login creates a new session for alice on s's manager.
func login(t *testing.T, s *redisSessionSetup) *http.Cookie {
	t.Helper()
	_, cookie, err := s.h.app.sessions.Create(context.Background(), session.Login{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return cookie
}

// TestSessionPipelineLogoutOnAnotherReplica: a replica that knows the
// session (and so charges its zone in the read's round trip) sees a
// logout made on another replica at once: the request is refused, and
// the speculative charge refunded.
func TestSessionPipelineLogoutOnAnotherReplica(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	a := newRedisSessionSetup(t, rc, Handler{}, userZone)
	b := newRedisSessionSetup(t, rc, Handler{}, userZone)
	wantAllowed(t, a.h, a.cookie, 9)
	wantAllowed(t, a.h, a.cookie, 8)

	r := httptest.NewRequest("GET", "http://gw.test/.portcullis/logout", nil)
	r.AddCookie(a.cookie)
	if _, _, err := b.h.app.sessions.Logout(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	// The pipeline (GET: gone; EVALSHA: charged), then the refund.
	wantRefused(t, a, a.cookie, http.StatusUnauthorized, 2)
	// The ended session is forgotten: replaying its cookie is a plain
	// GET again, with no charge to refund.
	wantRefused(t, a, a.cookie, http.StatusUnauthorized, 1)
	// alice again (a new session, whose first read on a is not
	// speculative): the refused request left her bucket as it was.
	wantAllowed(t, a.h, login(t, a), 7)
}

// TestSessionPipelineRefusedNotCharged: a request authorization refuses
// consumes no quota, although its zone was charged in the session
// read's round trip: the charge is refunded.
func TestSessionPipelineRefusedNotCharged(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	strict := newRedisSessionSetup(t, rc, Handler{Require: []RequireConfig{{Scopes: []string{"orders:write"}}}}, userZone)
	open := newRedisSessionSetup(t, rc, Handler{}, userZone)
	wantRefused(t, strict, strict.cookie, http.StatusForbidden, 1) // not known yet: read alone
	// Known: the script is loaded (NOSCRIPT, EVAL), then every request
	// is the read and the charge in one round trip, and the refund.
	wantRefused(t, strict, strict.cookie, http.StatusForbidden, -1)
	for range 3 {
		wantRefused(t, strict, strict.cookie, http.StatusForbidden, 2) // read+charge, refund
	}
	wantAllowed(t, open.h, strict.cookie, 9)
	wantAllowed(t, open.h, strict.cookie, 8)
}

// TestSessionPipelineRecordChanged: another replica rewrites the record
// (its touch slides the idle timeout); the next reads here get the new
// bytes, decode them and still take one round trip each, charging the
// right bucket once.
func TestSessionPipelineRecordChanged(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	a := newRedisSessionSetup(t, rc, Handler{}, userZone)
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }
	b := newRedisSessionSetupAt(t, rc, later, Handler{}, userZone)
	wantAllowed(t, a.h, a.cookie, 9)
	wantAllowed(t, b.h, a.cookie, 8) // touches: b's clock is past the touch interval
	for i := range 3 {
		if n := a.tripsOf(func() { wantAllowed(t, a.h, a.cookie, 7-i) }); n != 1 {
			t.Fatalf("request %d after the change: %d round trips, want 1", i, n)
		}
	}
	// What a read is the touched record: idle expiry from b's clock.
	r := httptest.NewRequest("GET", "http://gw.test/", nil)
	r.AddCookie(a.cookie)
	got, err := a.h.app.sessions.Load(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if min := time.Now().Add(session.DefaultIdleTimeout + 5*time.Minute); got.IdleExpires.Before(min) {
		t.Fatalf("idle expiry %v: the record read is not the one the other replica wrote", got.IdleExpires)
	}
}

// TestSessionPipelineOtherSubjectRefunded: when the requests the limit
// step makes are not those charged with the session read (here the read
// charged mallory; the principal allowed is alice), the charge is
// refunded and the limiter asked for the real requests.
func TestSessionPipelineOtherSubjectRefunded(t *testing.T) {
	t.Parallel()
	rc := store.RedisConfig{URL: redistest.StartStandalone(t).URL()}
	s := newRedisSessionSetup(t, rc, Handler{}, userZone)
	st, rl, ok := s.h.sessionRedis()
	if !ok {
		t.Fatal("the route does not read sessions and zones in one round trip")
	}
	ctx := context.Background()
	var pre prepaid
	if _, err := s.h.readCharging(ctx, st, rl, "pcl:{s:none}", "mallory", &pre); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read: %v", err)
	}
	w := httptest.NewRecorder()
	r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "http://gw.test/", nil), caddy.NewReplacer(), w, nil)
	if v := s.h.limitPrepaid(w, r, []ratelimit.Request{{Zone: s.h.zones[0], Key: "alice"}}, &pre); v != nil {
		t.Fatalf("limit: %+v", *v)
	}
	for user, want := range map[string]int{"mallory": 9, "alice": 8} {
		res, err := rl.Allow(ctx, []ratelimit.Request{{Zone: s.h.zones[0], Key: user}})
		if err != nil || res[0].Remaining != want {
			t.Errorf("%s: remaining %d, want %d (%v)", user, res[0].Remaining, want, err)
		}
	}
}

// TestSessionPipelineRedisDown: with Redis down, sessions fail closed
// (503) as before, the failed scripts leave the limiter's circuit
// breaker as it was (as when the limiter was not reached), and requests
// pass again once Redis is back.
func TestSessionPipelineRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	s := newRedisSessionSetup(t, store.RedisConfig{URL: srv.URL()}, Handler{}, userZone)
	wantAllowed(t, s.h, s.cookie, 9)
	wantAllowed(t, s.h, s.cookie, 8)
	srv.Stop()
	for range 2 * ratelimit.DefaultBreakerThreshold {
		w, up := sessionRequest(t, s.h, s.cookie)
		if w.Code != http.StatusServiceUnavailable || up.called {
			t.Fatalf("Redis down: status %d, upstream %v: %s", w.Code, up.called, w.Body)
		}
	}
	rl := s.h.app.limiter.(*ratelimit.Redis)
	if st := rl.State(); st != ratelimit.StateClosed {
		t.Errorf("breaker %v after session failures, want closed", st)
	}
	srv.Restart(t) // empty: the session is gone
	// The client dials again after its own backoff; 30s means "hung".
	var cookie *http.Cookie
	for deadline := time.Now().Add(30 * time.Second); cookie == nil; {
		_, ck, err := s.h.app.sessions.Create(context.Background(), session.Login{Subject: "alice"})
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("Redis back, login still fails: %v", err)
		}
		cookie = ck
		time.Sleep(10 * time.Millisecond)
	}
	wantAllowed(t, s.h, cookie, 9)
	if n := s.tripsOf(func() { wantAllowed(t, s.h, cookie, 8) }); n != 1 {
		t.Errorf("after recovery: %d round trips, want 1", n)
	}
}
