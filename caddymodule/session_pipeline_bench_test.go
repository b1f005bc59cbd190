package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// BenchmarkHandlerSessionRedis measures a request carrying a browser
// session cookie, the session in a real redis-server (started for the
// benchmark), and reports the Redis round trips per request.
func BenchmarkHandlerSessionRedis(b *testing.B) {
	benchRedisSession(b)
}

// BenchmarkHandlerSessionRedisRateLimit is BenchmarkHandlerSessionRedis
// on a route with a zone keyed by the user (the load benchmark's
// session-redis+ratelimit row): one round trip per request for both.
func BenchmarkHandlerSessionRedisRateLimit(b *testing.B) {
	benchRedisSession(b, RateLimitZoneConfig{Name: "bench", Rate: "1000000/1s", Burst: 1000000})
}

// benchRedisEnv names a Redis URL the Redis benchmarks use instead of
// starting a server, for runs under valgrind (whose callgrind may abort
// on the signals of a child process).
const benchRedisEnv = "PORTCULLIS_BENCH_REDIS"

func benchRedisSession(b *testing.B, zones ...RateLimitZoneConfig) {
	url := os.Getenv(benchRedisEnv)
	if url == "" {
		url = redistest.StartStandalone(b).URL()
	}
	t := &testing.T{}
	// Timeouts as the load benchmark's (2s): under valgrind a read past
	// the 50 ms default would answer 503.
	rc := store.RedisConfig{URL: url, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	s := newRedisSessionSetup(t, rc, Handler{}, zones...)
	b.Cleanup(func() { _ = s.st.Close() })
	prepare := func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		r.AddCookie(s.cookie)
	}
	// One request first: the record cache then holds the session, as on a
	// gateway serving it.
	benchHandlerOnce(b, s.h, prepare)
	before := s.trips.n.Load()
	benchHandler(b, s.h, prepare)
	b.ReportMetric(float64(s.trips.n.Load()-before)/float64(b.N), "roundtrips/op")
}

// benchHandlerOnce serves one request prepared by prepare and fails
// unless it was allowed.
func benchHandlerOnce(b *testing.B, h *Handler, prepare func(r *http.Request)) {
	b.Helper()
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	prepare(r)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
		b.Fatalf("status %d: %v %s", w.Code, err, w.Body)
	}
}
