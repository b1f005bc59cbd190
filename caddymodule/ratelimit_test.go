package caddymodule

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

func TestHandlerRateLimit(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	h.RateLimits = []string{"per_user"}
	app := h.app
	app.RateLimits = []RateLimitZoneConfig{{Name: "per_user", Rate: "2/1m", Burst: 1}}
	z, err := app.RateLimits[0].zone()
	if err != nil {
		t.Fatal(err)
	}
	app.zones = map[string]ratelimit.Zone{"per_user": z}
	st, sk, err := acquireStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	app.store, app.storeKey = st, sk
	if err := app.acquireLimiter(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	key := map[string][]string{"X-Api-Key": {k.key}}
	for i := range 2 {
		w, up := serve(t, h, "GET", key)
		if w.Code != 200 || !up.called || !strings.HasPrefix(w.Header().Get("RateLimit"), `"per_user";r=`) {
			t.Fatalf("request %d: %d, RateLimit %q", i, w.Code, w.Header().Get("RateLimit"))
		}
	}
	w, up := serve(t, h, "GET", key)
	if w.Code != 429 || up.called || w.Header().Get("Retry-After") == "" || w.Header().Get("RateLimit-Policy") != `"per_user";q=2;w=60` {
		t.Fatalf("third request: %d, upstream %v, headers %v", w.Code, up.called, w.Header())
	}
	if got := testutil.ToFloat64(app.metrics.rateLimited.WithLabelValues("per_user")); got != 1 {
		t.Fatalf("rate_limited_total{per_user} = %v", got)
	}
	// Another client (anonymous → its IP) has its own bucket: 401 here, but
	// never a 429 caused by the first client.
	if w, _ := serve(t, h, "GET", nil); w.Code != 401 {
		t.Fatalf("anonymous: %d", w.Code)
	}
}
