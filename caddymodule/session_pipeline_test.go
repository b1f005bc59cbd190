package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// userZone is a zone keyed by the user (the default key) whose bucket
// holds 10 events and refills slowly: Remaining counts what was charged.
var userZone = RateLimitZoneConfig{Name: "per_user", Rate: "10/1h", Burst: 9}

// sessionRequest serves one JSON request carrying cookie through h.
func sessionRequest(t *testing.T, h *Handler, cookie *http.Cookie) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	return serve(t, h, "GET", map[string][]string{"Cookie": {cookie.Name + "=" + cookie.Value}, "Accept": {"application/json"}})
}

// remaining reads r= of the RateLimit header (-1 without one).
func remaining(t *testing.T, w *httptest.ResponseRecorder) int {
	t.Helper()
	v := w.Header().Get("RateLimit")
	i := strings.Index(v, ";r=")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(strings.SplitN(v[i+3:], ";", 2)[0])
	if err != nil {
		t.Fatalf("RateLimit %q: %v", v, err)
	}
	return n
}

// wantAllowed serves a request and wants it allowed with want left.
func wantAllowed(t *testing.T, h *Handler, cookie *http.Cookie, want int) {
	t.Helper()
	w, up := sessionRequest(t, h, cookie)
	if w.Code != 200 || !up.called {
		t.Fatalf("status %d, upstream %v: %s", w.Code, up.called, w.Body)
	}
	if got := up.header.Get("X-Auth-Subject"); got != "alice" {
		t.Fatalf("subject upstream %q, want alice", got)
	}
	if got := remaining(t, w); got != want {
		t.Fatalf("remaining %d, want %d (RateLimit %q)", got, want, w.Header().Get("RateLimit"))
	}
}

// trips runs fn and returns the round trips s's client made meanwhile.
func (s *redisSessionSetup) tripsOf(fn func()) int64 {
	before := s.trips.n.Load()
	fn()
	return s.trips.n.Load() - before
}

// commandCalls returns the calls of each command INFO commandstats
// lists on the server at addr (read with a client of its own).
func commandCalls(t *testing.T, addr string) map[string]int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// TestSessionPipelineOneRoundTrip: a session in Redis on a route with a
// zone keyed by the user costs one round trip per request (two before:
// GET, then EVALSHA), once this replica has read the session: one GET
// and one EVALSHA each, as INFO commandstats counts them, and the zone
// charged once per request. On a Cluster the session and bucket keys
// hash to different slots: the pipeline is split by node, still one
// round trip of latency (counted once here).
func TestSessionPipelineOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	cluster := redistest.StartCluster(t)
	for _, tc := range []struct {
		name string
		rc   store.RedisConfig
		addr string // a standalone server whose commandstats count
	}{
		{"standalone", store.RedisConfig{URL: srv.URL()}, srv.Addr()},
		{"cluster", store.RedisConfig{Addrs: cluster.Addrs(), Cluster: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRedisSessionSetup(t, tc.rc, Handler{}, userZone)
			// The first request on a replica reads the session before it
			// knows whose it is (two round trips, more on a new connection
			// and while the script is not loaded).
			wantAllowed(t, s.h, s.cookie, 9)
			var before map[string]int
			if tc.addr != "" {
				before = commandCalls(t, tc.addr)
			}
			const requests = 5
			for i := range requests {
				if n := s.tripsOf(func() { wantAllowed(t, s.h, s.cookie, 8-i) }); n != 1 {
					t.Fatalf("request %d: %d round trips, want 1", i+2, n)
				}
			}
			if tc.addr != "" {
				after := commandCalls(t, tc.addr)
				// The script reads its bucket with a GET of its own (and
				// TIME, SET): two GETs and one EVALSHA per request.
				for cmd, want := range map[string]int{"get": 2 * requests, "evalsha": requests, "eval": 0} {
					if got := after[cmd] - before[cmd]; got != want {
						t.Errorf("%s calls: %d, want %d", cmd, got, want)
					}
				}
			}
		})
	}
}
