package caddymodule

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// roundTrips counts the round trips a go-redis client makes: one per
// command sent on its own, one per pipeline (a Cluster pipeline is sent
// to its nodes in parallel: one round trip of latency, counted once).
type roundTrips struct{ n atomic.Int64 }

// DialHook implements redis.Hook.
func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// redisSessionSetup is a route accepting browser sessions stored in Redis,
// with zones on a limiter on the same Redis client.
type redisSessionSetup struct {
	h      *Handler
	st     *store.Redis
	trips  *roundTrips
	cookie *http.Cookie
}

// sessionKeyForTests seals the test sessions.
const sessionKeyForTests = "bench-session-key-0123456789abcdef0123"

// newRedisSessionSetup builds route against a fresh client of rc (its own
// round-trip counter), with sessions on it and, when zones is not empty,
// those zones declared in the app and applied by the route, on a Redis
// limiter sharing the client. It logs alice in and returns her cookie.
func newRedisSessionSetup(t *testing.T, rc store.RedisConfig, route Handler, zones ...RateLimitZoneConfig) *redisSessionSetup {
	t.Helper()
	return newRedisSessionSetupAt(t, rc, nil, route, zones...)
}

// newRedisSessionSetupAt is newRedisSessionSetup with the session
// manager's clock (nil: time.Now).
func newRedisSessionSetupAt(t *testing.T, rc store.RedisConfig, now func() time.Time, route Handler, zones ...RateLimitZoneConfig) *redisSessionSetup {
	t.Helper()
	// Tests are about behaviour, not latency: the 50 ms default would
	// fail a busy machine running -race. 10s means "hung".
	if rc.ReadTimeout == 0 {
		rc.ReadTimeout, rc.WriteTimeout = 10*time.Second, 10*time.Second
	}
	st, err := store.NewRedis(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	trips := &roundTrips{}
	st.Client().AddHook(trips)
	h, _ := newTestHandler(t, route)
	app := h.app
	app.store = st
	if app.sessions, err = session.New(session.Config{Store: st, Keys: [][]byte{[]byte(sessionKeyForTests)}, Now: now}); err != nil {
		t.Fatal(err)
	}
	h.accept = append(h.accept, "session")
	if len(zones) > 0 {
		app.RateLimits = zones
		app.zones = map[string]ratelimit.Zone{}
		for _, zc := range zones {
			z, err := zc.zone()
			if err != nil {
				t.Fatal(err)
			}
			app.zones[zc.Name] = z
			h.RateLimits = append(h.RateLimits, zc.Name)
		}
		if app.limiter, err = ratelimit.NewRedis(st.Client(), ratelimit.RedisOptions{Timeout: rc.ReadTimeout, DenyCacheSize: denyCacheSize}); err != nil {
			t.Fatal(err)
		}
		if err := h.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	_, cookie, err := app.sessions.Create(context.Background(), session.Login{Subject: "alice",
		Claims: session.Claims{Email: "alice@example.test", Name: "Alice", Groups: []string{"staff"}, Raw: map[string]any{"sub": "alice", "email": "alice@example.test"}},
		Tokens: session.Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id", Expiry: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	return &redisSessionSetup{h: h, st: st, trips: trips, cookie: cookie}
}
