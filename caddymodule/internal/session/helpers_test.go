package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// testKey returns a fresh random 32-byte key.
func testKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// fakeClock is an injectable clock.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New() }

// backend opens clients of one shared store: each call returns a new
// client (a new "replica") on the same data.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

// relaxed returns cfg with read and write timeouts that mean "hung",
// never merely "slow" for -race on a busy machine (the 50 ms defaults are
// for production, and store's outage tests cover them).
func relaxed(cfg store.RedisConfig) store.RedisConfig {
	cfg.ReadTimeout, cfg.WriteTimeout = 10*time.Second, 10*time.Second
	return cfg
}

func redisOpener(cfg store.RedisConfig) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		t.Helper()
		r, err := store.NewRedis(relaxed(cfg))
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
}

// memoryBackend returns a backend whose every open returns the same
// Memory store (real clock).
func memoryBackend(t *testing.T) backend {
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return backend{name: "memory", open: func(*testing.T) store.Store { return m }}
}

// runMiniredis starts a miniredis whose TTLs follow real time (ClockTTL:
// advanced by the wall-clock time elapsed on every command, with no
// ticker to lag behind on a busy machine).
func runMiniredis(t *testing.T) *miniredis.Miniredis {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.ClockTTL(true)
	return mr
}

// countingAtomic counts Swap calls and records the values written.
type countingAtomic struct {
	Atomic
	swaps atomic.Int64
	spy   *spy
}

func (c *countingAtomic) Swap(ctx context.Context, key string, old, new []byte, ttl time.Duration) (bool, error) {
	c.swaps.Add(1)
	c.spy.record(key, new)
	return c.Atomic.Swap(ctx, key, old, new, ttl)
}

func (c *countingAtomic) AddMember(ctx context.Context, key, member string, ttl time.Duration) error {
	c.spy.record(key, []byte(member))
	return c.Atomic.AddMember(ctx, key, member, ttl)
}

// spy records every key and value written through it.
type spy struct {
	mu     sync.Mutex
	writes [][2][]byte
}

func (s *spy) record(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, [2][]byte{[]byte(key), bytes.Clone(value)})
}

// contains reports whether any recorded key or value contains needle.
func (s *spy) contains(needle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.writes {
		if bytes.Contains(w[0], []byte(needle)) || bytes.Contains(w[1], []byte(needle)) {
			return true
		}
	}
	return false
}

// spyStore records Set and SetNX writes and counts Sets.
type spyStore struct {
	store.Store
	spy  *spy
	sets atomic.Int64
}

func (s *spyStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.sets.Add(1)
	s.spy.record(key, value)
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *spyStore) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	s.spy.record(key, value)
	return s.Store.SetNX(ctx, key, value, ttl)
}

// fixture is one Manager ("replica") on a backend, with its spies.
type fixture struct {
	m      *Manager
	store  *spyStore
	atomic *countingAtomic
	spy    *spy
}

// newFixture builds a Manager on a fresh client of b with cfg (Store,
// Atomic and, if unset, Keys, KeyPrefix and Now are filled in).
func newFixture(t *testing.T, b backend, cfg Config) *fixture {
	t.Helper()
	inner := b.open(t)
	sp := &spy{}
	f := &fixture{spy: sp, store: &spyStore{Store: inner, spy: sp}}
	f.atomic = &countingAtomic{Atomic: AtomicFor(inner), spy: sp}
	cfg.Store, cfg.Atomic = f.store, f.atomic
	if cfg.Keys == nil {
		cfg.Keys = [][]byte{testKey()}
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "st-" + rand.Text()[:12]
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.m = m
	return f
}

// request returns a GET request carrying the given cookies.
func request(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// testLogin is a login with recognisable secrets.
func testLogin(sub string, now time.Time) Login {
	return Login{
		Subject: sub,
		Claims: Claims{
			Issuer: "https://idp.example", Email: sub + "@example.com", Name: "Test " + sub,
			Groups: []string{"staff"}, ACR: "urn:acr:mfa", AMR: []string{"pwd", "otp"},
			AuthTime: now.Add(-time.Minute), SID: "idp-sid-" + sub,
		},
		Tokens: Tokens{
			AccessToken: "access-" + rand.Text(), RefreshToken: "refresh-" + rand.Text(),
			IDToken: "idtoken-" + rand.Text(), TokenType: "Bearer",
			Expiry: now.Add(time.Hour), Obtained: now,
		},
	}
}
