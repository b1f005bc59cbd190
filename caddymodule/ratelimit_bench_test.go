package caddymodule

import (
	"net/http"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// newZoneHandler returns an anonymous route as BenchmarkHandlerAnonymous
// sets it up, applying a memory zone that never refuses (as the load
// benchmark's `rate_limit bench 1000000/1s burst 1000000`) when zone is
// true.
func newZoneHandler(tb testing.TB, zone bool) *Handler {
	tb.Helper()
	t, ok := tb.(*testing.T)
	if !ok {
		t = &testing.T{} // as BenchmarkHandlerAnonymous: setup does not fail
	}
	h, _ := newTestHandler(t, Handler{Require: []RequireConfig{{Scopes: []string{"orders:read"}}}, AllowAnonymous: []string{"/orders"}})
	if !zone {
		return h
	}
	app := h.app
	app.RateLimits = []RateLimitZoneConfig{{Name: "bench", Rate: "1000000/1s", Burst: 1000000}}
	z, err := app.RateLimits[0].zone()
	if err != nil {
		tb.Fatal(err)
	}
	app.zones = map[string]ratelimit.Zone{"bench": z}
	st, sk, err := acquireStore(nil)
	if err != nil {
		tb.Fatal(err)
	}
	app.store, app.storeKey = st, sk
	if err := app.acquireLimiter(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = app.Cleanup() })
	h.RateLimits = []string{"bench"}
	if err := h.Validate(); err != nil {
		tb.Fatal(err)
	}
	return h
}

// BenchmarkHandlerAnonymousZone measures an anonymous request on a route
// with one memory zone (bucket keyed by the client address), every
// request allowed with RateLimit headers; NoZone is the same route
// without the zone, to subtract.
func BenchmarkHandlerAnonymousZone(b *testing.B) {
	for _, bb := range []struct {
		name string
		zone bool
	}{{"NoZone", false}, {"Zone", true}} {
		b.Run(bb.name, func(b *testing.B) {
			h := newZoneHandler(b, bb.zone)
			benchHandler(b, h, func(r *http.Request) {})
		})
	}
}

// TestZoneHandlerSetsHeaders checks that the benchmark's zone route is
// limited: an allowed request carries the zone's RateLimit headers.
func TestZoneHandlerSetsHeaders(t *testing.T) {
	h := newZoneHandler(t, true)
	w, up := serve(t, h, "GET", nil)
	if w.Code != 200 || !up.called || w.Header().Get("RateLimit-Policy") != `"bench";q=1000001;w=2` {
		t.Fatalf("%d, upstream %v, headers %v", w.Code, up.called, w.Header())
	}
}
