package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// withKeyLimit gives the test app's key its own limit and acquires a
// memory limiter, as Provision would; zones are declared and applied to
// h when given.
func withKeyLimit(t *testing.T, h *Handler, rate string, burst int, zones ...RateLimitZoneConfig) {
	t.Helper()
	app := h.app
	app.APIKeys.Keys[0].RateLimit, app.APIKeys.Keys[0].Burst = rate, burst
	app.RateLimits = zones
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	var err error
	if app.registry, err = apikey.NewRegistry(apikey.RegistryOptions{Static: app.keys, Hasher: app.hasher, Prefix: app.keys.Prefix()}); err != nil {
		t.Fatal(err)
	}
	if !app.limitsKeys() {
		t.Fatal("limitsKeys is false for a key with a limit")
	}
	st, sk, err := acquireStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	app.store, app.storeKey = st, sk
	app.limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{}) // private: tests run in parallel
	h.zones = nil
	for _, z := range zones {
		h.RateLimits = append(h.RateLimits, z.Name)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestKeyOwnLimit: a key's own limit applies on a route without zones:
// burst+1 requests pass with RateLimit headers naming the api_key
// bucket, then 429 with Retry-After, the api_key_rate_limited reason
// and the rate_limited_total{zone="api_key"} metric.
func TestKeyOwnLimit(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	withKeyLimit(t, h, "2/1m", 1)
	logs := observe(h)
	auth := map[string][]string{"Authorization": {"Bearer " + k.key}}
	for i := range 2 {
		w, up := serve(t, h, "GET", auth)
		if w.Code != 200 || !up.called || !strings.HasPrefix(w.Header().Get("RateLimit"), `"api_key";r=`) {
			t.Fatalf("request %d: %d, RateLimit %q", i+1, w.Code, w.Header().Get("RateLimit"))
		}
	}
	w, up := serve(t, h, "GET", auth)
	if w.Code != 429 || up.called || w.Header().Get("Retry-After") != "30" || w.Header().Get("RateLimit-Policy") != `"api_key";q=2;w=60` {
		t.Fatalf("third request: %d, upstream %v, headers %v", w.Code, up.called, w.Header())
	}
	if !strings.Contains(w.Body.String(), `"request_id"`) {
		t.Fatalf("429 body without a request id: %s", w.Body)
	}
	if got := testutil.ToFloat64(h.app.metrics.rateLimited.WithLabelValues(ratelimit.KeyZone)); got != 1 {
		t.Fatalf(`rate_limited_total{zone="api_key"} = %v, want 1`, got)
	}
	last := logs.All()[len(logs.All())-1].ContextMap()
	if last["event"] != "rate_limited" || last["reason"] != reasonKeyRateLimited || last["zone"] != "api_key" || last["key_id"] != k.id {
		t.Fatalf("last audit event %v", last)
	}
}

// TestKeyOwnLimitWithZone: on a route with a zone, the key's own bucket
// applies besides it (the stricter one refuses), and a second
// portcullis handler of the same request does not charge the key again.
func TestKeyOwnLimitWithZone(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	withKeyLimit(t, h, "3/1m", 2, RateLimitZoneConfig{Name: "per_user", Rate: "100/1m", Burst: 99})
	auth := map[string][]string{"Authorization": {"Bearer " + k.key}}
	for i := range 3 {
		if w, _ := serveChained(t, h, auth); w.Code != 200 {
			t.Fatalf("request %d through two handlers: %d", i+1, w.Code)
		}
	}
	w, _ := serve(t, h, "GET", auth)
	if w.Code != 429 || !strings.HasPrefix(w.Header().Get("RateLimit-Policy"), `"api_key";`) {
		t.Fatalf("fourth request: %d %v, want the key's own bucket to refuse", w.Code, w.Header())
	}
}

// TestKeyOwnLimitOff: token check's app charges nothing.
func TestKeyOwnLimitOff(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	withKeyLimit(t, h, "1/1m", 0)
	h.app.judgeOnly()
	for i := range 3 {
		if w, _ := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer " + k.key}}); w.Code != 200 {
			t.Fatalf("request %d with limits off: %d", i+1, w.Code)
		}
	}
}

func TestKeyLimitConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		rate  string
		burst int
		ok    bool
	}{
		{name: "rate and burst", rate: "100/1m", burst: 20, ok: true},
		{name: "burst without rate", burst: 20},
		{name: "bad rate", rate: "100 per minute"},
		{name: "negative burst", rate: "1/s", burst: -2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := APIKeyConfig{ID: "x", RateLimit: tt.rate, Burst: tt.burst}.withOwnLimit(apikey.Record{ID: "x"})
			if (err == nil) != tt.ok {
				t.Fatalf("withOwnLimit: %v", err)
			}
			if tt.ok && (rec.RateLimit != tt.rate || rec.RateBurst != tt.burst) {
				t.Fatalf("record %+v", rec)
			}
		})
	}
	if _, err := (RateLimitZoneConfig{Name: ratelimit.KeyZone, Rate: "1/s"}).zone(); err == nil {
		t.Fatal("a zone named api_key was accepted")
	}
}

// serveChained serves a GET through h twice in a row (as `portcullis
// /admin/*` before `portcullis` would), then the upstream.
func serveChained(t *testing.T, h *Handler, headers map[string][]string) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	for k, vs := range headers {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	up := &upstream{}
	second := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return h.ServeHTTP(w, r, up) })
	if err := h.ServeHTTP(w, r, second); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w, up
}

// TestKeyLimitCaddyfile: `rate_limit <rate> [burst <n>]` on a static key
// reads into the JSON fields; a mistake is reported at its line.
func TestKeyLimitCaddyfile(t *testing.T) {
	t.Parallel()
	k, err := apikey.Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	block := func(limit string) string {
		return "portcullis {\n api_keys {\n  key " + k.ID + " {\n   hash " + apikey.NewHasher(nil).Hash(k.String()) +
			"\n   subject bot\n   " + limit + "\n  }\n }\n}"
	}
	var a App
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block("rate_limit 100/1m burst 20"))); err != nil {
		t.Fatal(err)
	}
	if got := a.APIKeys.Keys[0]; got.RateLimit != "100/1m" || got.Burst != 20 {
		t.Fatalf("key %+v", got)
	}
	for _, tt := range []struct{ line, want string }{
		{"rate_limit fast", "Testfile:6"},
		{"rate_limit 10/s burst many", "not a non-negative integer"},
		{"rate_limit 10/s bursts 2", `unrecognized argument "bursts"`},
		{"rate_limit", "needs a rate"},
	} {
		var b App
		err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block(tt.line)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.line, err, tt.want)
		}
	}
}
