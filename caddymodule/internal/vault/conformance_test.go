package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// hung bounds waits that only a broken implementation would reach: never
// merely "slow" on a loaded machine running -race.
const hung = 30 * time.Second

// backend opens stores on one shared backend: each open is a new client
// (a replica) of the same data.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

// TestConformance runs the vault suite on every store: memory, a real
// standalone Redis and a real three-node Redis Cluster.
func TestConformance(t *testing.T) {
	t.Parallel()
	backends := []func(t *testing.T) backend{
		func(t *testing.T) backend {
			m, err := store.NewMemory(store.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return backend{"memory", func(*testing.T) store.Store { return m }}
		},
		func(t *testing.T) backend {
			return backend{"redis", redisOpener(store.RedisConfig{URL: redistest.SharedStandalone(t).URL()})}
		},
		func(t *testing.T) backend {
			return backend{"cluster", redisOpener(store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true})}
		},
	}
	for i, name := range []string{"memory", "redis", "cluster"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runSuite(t, backends[i](t))
		})
	}
}

func redisOpener(base store.RedisConfig) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		t.Helper()
		cfg := base
		cfg.ReadTimeout, cfg.WriteTimeout = 10*time.Second, 10*time.Second
		r, err := store.NewRedis(cfg)
		if err != nil {
			t.Fatalf("NewRedis: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
}

func runSuite(t *testing.T, b backend) {
	checks := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"ConnectGetListRemove", testConnectGetListRemove},
		{"OpaqueAtRest", testOpaqueAtRest},
		{"SwapRefused", testSwapRefused},
		{"KeyRotation", testKeyRotation},
		{"RefreshOnceAcrossReplicasExpired", func(t *testing.T, b backend) { testRefreshOnce(t, b, true) }},
		{"RefreshOnceAcrossReplicasExpiring", func(t *testing.T, b backend) { testRefreshOnce(t, b, false) }},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshInvalidGrant", testRefreshInvalidGrant},
		{"RefreshTransient", testRefreshTransient},
		{"NoRefreshToken", testNoRefreshToken},
		{"Lock", testLock},
		{"RemoveWaitsForRefresh", testRemoveWaitsForRefresh},
		{"Flow", testFlow},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, b)
		})
	}
}

// fixture is one test's vaults (replicas) on one backend, sharing a
// clock and a key prefix.
type fixture struct {
	b      backend
	clk    *fakeclock.Clock
	prefix string
}

func newFixture(b backend) *fixture {
	return &fixture{b: b, clk: fakeclock.New(), prefix: "vt-" + rand.Text()[:12]}
}

// replica opens a vault on a new client of the backend.
func (f *fixture) replica(t *testing.T, mod ...func(*Config)) *Vault {
	t.Helper()
	cfg := Config{Store: f.b.open(t), Keys: [][]byte{keyA}, KeyPrefix: f.prefix, Now: f.clk.Now, RefreshWait: hung}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fakeRefresher answers refreshes: each call gets access token "at-<n>"
// and, when rotate, refresh token "rt-<n>".
type fakeRefresher struct {
	calls   atomic.Int64
	mu      sync.Mutex
	seen    []string // refresh tokens presented
	rotate  bool
	life    time.Duration
	now     func() time.Time
	err     error
	started chan struct{} // closed at the first call, if set
	gate    chan struct{} // waited on before answering, if set
	once    sync.Once
}

func (r *fakeRefresher) Refresh(ctx context.Context, rt string) (Tokens, error) {
	n := r.calls.Add(1)
	r.mu.Lock()
	r.seen = append(r.seen, rt)
	r.mu.Unlock()
	if r.started != nil {
		r.once.Do(func() { close(r.started) })
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return Tokens{}, ctx.Err()
		}
	}
	if r.err != nil {
		return Tokens{}, r.err
	}
	t := Tokens{AccessToken: fmt.Sprintf("at-%d", n), TokenType: "Bearer", Expiry: r.now().Add(r.life)}
	if r.rotate {
		t.RefreshToken = fmt.Sprintf("rt-%d", n)
	}
	return t, nil
}

const (
	alice  = "idp:alice"
	github = "github"
)

// connect stores alice's github connection with an access token
// living life from now.
func connect(t *testing.T, v *Vault, clk *fakeclock.Clock, life time.Duration) *Connection {
	t.Helper()
	c, err := v.Connect(t.Context(), alice, github, Tokens{AccessToken: "at-0-secret-token", RefreshToken: "rt-0-secret-token", TokenType: "Bearer",
		Expiry: clk.Now().Add(life), Scopes: []string{"repo", "read:user"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testConnectGetListRemove(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	ctx := t.Context()
	if _, err := v.Get(ctx, alice, github); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Get before connecting: %v", err)
	}
	connect(t, v, f.clk, time.Hour)
	c, err := f.replica(t).Get(ctx, alice, github)
	if err != nil || c.AccessToken != "at-0-secret-token" || c.RefreshToken != "rt-0-secret-token" || !c.Connected.Equal(f.clk.Now()) || len(c.Scopes) != 2 {
		t.Fatalf("Get on another replica = %+v, %v", c, err)
	}
	if _, err := v.Get(ctx, "idp:bob", github); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("bob sees a connection: %v", err)
	}
	list, err := v.List(ctx, alice, []string{"notion", github})
	if err != nil || len(list) != 1 || list[0].Provider != github || list[0].NeedsReconnect {
		t.Fatalf("List = %+v, %v", list, err)
	}
	removed, err := v.Remove(ctx, alice, github)
	if err != nil || removed == nil || removed.RefreshToken != "rt-0-secret-token" {
		t.Fatalf("Remove = %+v, %v", removed, err)
	}
	if _, err := v.Get(ctx, alice, github); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if removed, err := v.Remove(ctx, alice, github); err != nil || removed != nil {
		t.Fatalf("second Remove = %+v, %v", removed, err)
	}
	if _, err := v.Token(ctx, alice, github, nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Token after Remove: %v", err)
	}
}

func testOpaqueAtRest(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	connect(t, v, f.clk, time.Hour)
	key := v.Key(alice, github)
	if strings.Contains(key, "alice") {
		t.Fatalf("the store key %q names the user", key)
	}
	if !strings.HasPrefix(key, f.prefix+":{v:") {
		t.Fatalf("the store key %q lacks the prefix and hash tag", key)
	}
	raw, err := f.b.open(t).Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"secret-token", "at-0", "rt-0", "alice", "repo"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the stored value shows %q", s)
		}
	}
}

func testSwapRefused(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	connect(t, v, f.clk, time.Hour)
	st := f.b.open(t)
	ctx := t.Context()
	raw, err := st.Get(ctx, v.Key(alice, github))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subject, provider string }{{"idp:mallory", github}, {alice, "notion"}} {
		if err := st.Set(ctx, v.Key(c.subject, c.provider), raw, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err := v.Get(ctx, c.subject, c.provider); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("alice's record copied to %s/%s opens: %+v, %v", c.subject, c.provider, got, err)
		}
	}
	tampered := flip(raw, len(raw)-5)
	if err := st.Set(ctx, v.Key(alice, github), tampered, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, alice, github); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("a tampered record opens: %v", err)
	}
}

func testKeyRotation(t *testing.T, b backend) {
	f := newFixture(b)
	ctx := t.Context()
	old := f.replica(t)
	connect(t, old, f.clk, time.Hour)
	rotated := f.replica(t, func(c *Config) { c.Keys = [][]byte{keyB, keyA} })
	c, err := rotated.Get(ctx, alice, github)
	if err != nil || c.AccessToken != "at-0-secret-token" {
		t.Fatalf("rotated keys read the old record: %+v, %v", c, err)
	}
	c.AccessToken = "at-rotated"
	if err := rotated.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	onlyNew := f.replica(t, func(c *Config) { c.Keys = [][]byte{keyB} })
	if c, err := onlyNew.Get(ctx, alice, github); err != nil || c.AccessToken != "at-rotated" {
		t.Fatalf("the new key alone reads the rewritten record: %+v, %v", c, err)
	}
	if _, err := old.Get(ctx, alice, github); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("the retired key alone reads a record the new key sealed: %v", err)
	}
}

// testRefreshOnce: many requests on two replicas need a token at once;
// the provider is asked once, and every request gets the new token. With
// expired, the old token has expired (everyone waits for the refresh);
// otherwise it is about to (the others go on with it meanwhile).
func testRefreshOnce(t *testing.T, b backend, expired bool) {
	f := newFixture(b)
	replicas := []*Vault{f.replica(t), f.replica(t)}
	connect(t, replicas[0], f.clk, time.Hour)
	if expired {
		f.clk.Advance(time.Hour + time.Second)
	} else {
		f.clk.Advance(time.Hour - 10*time.Second) // within the 30s skew
	}
	r := &fakeRefresher{rotate: true, life: time.Hour, now: f.clk.Now, started: make(chan struct{}), gate: make(chan struct{})}
	const n = 16
	got := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := replicas[i%2].Token(t.Context(), alice, github, r)
			if err != nil {
				errs <- err
				return
			}
			got <- c.AccessToken
		})
	}
	select {
	case <-r.started:
	case <-time.After(hung):
		t.Fatal("no refresh started")
	}
	if !expired {
		// The others go on with the valid token while one refreshes.
		for range n - 1 {
			select {
			case tok := <-got:
				if tok != "at-0-secret-token" {
					t.Fatalf("a request during the refresh got %q", tok)
				}
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(hung):
				t.Fatal("requests wait for a refresh although the token is valid")
			}
		}
	}
	close(r.gate)
	wg.Wait()
	close(got)
	close(errs)
	for err := range errs {
		t.Fatalf("Token: %v", err)
	}
	for tok := range got {
		if tok != "at-1" {
			t.Fatalf("a request got %q, want the refreshed at-1", tok)
		}
	}
	if c := r.calls.Load(); c != 1 {
		t.Fatalf("the provider was asked %d times, want once", c)
	}
	c, err := replicas[1].Get(t.Context(), alice, github)
	if err != nil || c.AccessToken != "at-1" || c.RefreshToken != "rt-1" || !c.Obtained.Equal(f.clk.Now()) {
		t.Fatalf("stored after refresh: %+v, %v", c, err)
	}
	// The lock is free again: the next refresh (an hour on) happens.
	f.clk.Advance(time.Hour)
	r.gate, r.started = nil, nil
	if c, err := replicas[0].Token(t.Context(), alice, github, r); err != nil || c.AccessToken != "at-2" {
		t.Fatalf("second refresh: %+v, %v", c, err)
	}
}

func testRefreshRotation(t *testing.T, b backend) {
	for _, rotate := range []bool{true, false} {
		t.Run(fmt.Sprintf("rotate=%v", rotate), func(t *testing.T) {
			f := newFixture(b)
			v := f.replica(t)
			connect(t, v, f.clk, time.Minute)
			r := &fakeRefresher{rotate: rotate, life: time.Minute, now: f.clk.Now}
			for range 3 {
				f.clk.Advance(time.Minute)
				if _, err := v.Token(t.Context(), alice, github, r); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"rt-0-secret-token", "rt-1", "rt-2"}
			if !rotate {
				want = []string{"rt-0-secret-token", "rt-0-secret-token", "rt-0-secret-token"}
			}
			if fmt.Sprint(r.seen) != fmt.Sprint(want) {
				t.Fatalf("refresh tokens presented %v, want %v", r.seen, want)
			}
		})
	}
}

func testRefreshInvalidGrant(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	connect(t, v, f.clk, time.Minute)
	f.clk.Advance(time.Minute)
	r := &fakeRefresher{now: f.clk.Now, err: fmt.Errorf("refreshing at github: %w", ErrInvalidGrant)}
	if _, err := v.Token(t.Context(), alice, github, r); !errors.Is(err, ErrReconnect) {
		t.Fatalf("Token after invalid_grant: %v", err)
	}
	if _, err := f.replica(t).Token(t.Context(), alice, github, r); !errors.Is(err, ErrReconnect) {
		t.Fatalf("Token on another replica: %v", err)
	}
	if c := r.calls.Load(); c != 1 {
		t.Fatalf("a refused refresh token was presented %d times", c)
	}
	list, err := v.List(t.Context(), alice, []string{github})
	if err != nil || len(list) != 1 || !list[0].NeedsReconnect {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// Connecting again replaces it.
	connect(t, v, f.clk, time.Hour)
	if c, err := v.Token(t.Context(), alice, github, r); err != nil || c.NeedsReconnect {
		t.Fatalf("Token after reconnecting: %+v, %v", c, err)
	}
}

func testRefreshTransient(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	connect(t, v, f.clk, time.Hour)
	r := &fakeRefresher{now: f.clk.Now, err: errors.New("provider down")}
	f.clk.Advance(time.Hour - 10*time.Second)
	if c, err := v.Token(t.Context(), alice, github, r); err != nil || c.AccessToken != "at-0-secret-token" {
		t.Fatalf("a valid token during a provider outage: %+v, %v", c, err)
	}
	f.clk.Advance(time.Minute)
	if _, err := v.Token(t.Context(), alice, github, r); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an expired token during a provider outage: %v", err)
	}
	// Nothing was marked: once the provider is back, the refresh works.
	r.err = nil
	if c, err := v.Token(t.Context(), alice, github, r); err != nil || c.AccessToken == "at-0-secret-token" {
		t.Fatalf("after the outage: %+v, %v", c, err)
	}
}

func testNoRefreshToken(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t)
	if _, err := v.Connect(t.Context(), alice, github, Tokens{AccessToken: "at-only", Expiry: f.clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	r := &fakeRefresher{now: f.clk.Now}
	f.clk.Advance(50 * time.Second)
	if c, err := v.Token(t.Context(), alice, github, r); err != nil || c.AccessToken != "at-only" {
		t.Fatalf("Token before expiry: %+v, %v", c, err)
	}
	f.clk.Advance(time.Minute)
	if _, err := v.Token(t.Context(), alice, github, r); !errors.Is(err, ErrReconnect) {
		t.Fatalf("Token after expiry without a refresh token: %v", err)
	}
	if r.calls.Load() != 0 {
		t.Fatal("refreshed without a refresh token")
	}
}

func testLock(t *testing.T, b backend) {
	ctx := t.Context()
	l1, l2 := LockerFor(b.open(t)), LockerFor(b.open(t))
	key := store.Key("vt-"+rand.Text()[:12], "v", "lock") + lockSuffix
	if ok, err := l1.Acquire(ctx, key, "one", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if ok, err := l2.Acquire(ctx, key, "two", time.Minute); ok || err != nil {
		t.Fatalf("a held lock was acquired again: %v, %v", ok, err)
	}
	if err := l2.Release(ctx, key, "two"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l2.Acquire(ctx, key, "two", time.Minute); ok {
		t.Fatal("a release with another token freed the lock")
	}
	if err := l1.Release(ctx, key, "one"); err != nil {
		t.Fatal(err)
	}
	if ok, err := l2.Acquire(ctx, key, "two", 300*time.Millisecond); !ok || err != nil {
		t.Fatalf("Acquire after release = %v, %v", ok, err)
	}
	// An expired lock is free (polled: TTLs follow real time).
	deadline := time.Now().Add(hung)
	for {
		ok, err := l1.Acquire(ctx, key, "three", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lock never became free")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// "two" held it before it expired: its late release leaves "three"'s.
	if err := l2.Release(ctx, key, "two"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l2.Acquire(ctx, key, "four", time.Minute); ok {
		t.Fatal("a stale holder's release freed the new holder's lock")
	}
}

func testRemoveWaitsForRefresh(t *testing.T, b backend) {
	f := newFixture(b)
	v := f.replica(t, func(c *Config) { c.RefreshWait = 200 * time.Millisecond })
	connect(t, v, f.clk, time.Hour)
	ctx := t.Context()
	lock := v.Key(alice, github) + lockSuffix
	if ok, err := v.locker.Acquire(ctx, lock, "refresher", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if _, err := v.Remove(ctx, alice, github); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Remove during a refresh that does not end: %v", err)
	}
	if _, err := v.Get(ctx, alice, github); err != nil {
		t.Fatalf("the connection is gone although Remove failed: %v", err)
	}
	if err := v.locker.Release(ctx, lock, "refresher"); err != nil {
		t.Fatal(err)
	}
	if c, err := v.Remove(ctx, alice, github); err != nil || c == nil {
		t.Fatalf("Remove after the refresh = %+v, %v", c, err)
	}
}

func testFlow(t *testing.T, b backend) {
	f := newFixture(b)
	v, other := f.replica(t), f.replica(t)
	ctx := t.Context()
	state, fl, err := v.Begin(ctx, Flow{Provider: github, Subject: alice, SessionHash: "sess-1", ReturnTo: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(state) < 43 || fl.Verifier == "" || fl.Verifier == state || len(fl.Challenge()) != 43 {
		t.Fatalf("state %q, verifier %q, challenge %q", state, fl.Verifier, fl.Challenge())
	}
	raw, err := f.b.open(t).Get(ctx, v.flowKey(state))
	if err != nil || bytes.Contains(raw, []byte(fl.Verifier)) || bytes.Contains(raw, []byte("alice")) {
		t.Fatalf("the stored flow is not opaque (%v)", err)
	}
	got, err := other.Complete(ctx, state)
	if err != nil || got.Verifier != fl.Verifier || got.ReturnTo != "/app" || !got.SameSession("sess-1") || got.SameSession("sess-2") || got.SameSession("") {
		t.Fatalf("Complete on another replica = %+v, %v", got, err)
	}
	if _, err := v.Complete(ctx, state); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("a flow completed twice: %v", err)
	}
	for _, s := range []string{"", "unknown", strings.Repeat("x", 200)} {
		if _, err := v.Complete(ctx, s); !errors.Is(err, ErrFlowNotFound) {
			t.Fatalf("Complete(%q): %v", s, err)
		}
	}
	state, _, err = v.Begin(ctx, Flow{Provider: github, Subject: alice, SessionHash: "sess-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(DefaultFlowTTL + time.Second)
	if _, err := v.Complete(ctx, state); !errors.Is(err, ErrFlowNotFound) {
		t.Fatalf("an expired flow completed: %v", err)
	}
	if _, _, err := v.Begin(ctx, Flow{Provider: github, Subject: alice}); err == nil {
		t.Fatal("a flow without a session began")
	}
}
