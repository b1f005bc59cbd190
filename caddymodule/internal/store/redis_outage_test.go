package store_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// maxOutageLatency is the longest an operation may take against a Redis
// that is down or stalled with the default 50 ms read/write timeouts
// (about 70 ms measured: the connection's handshake times out, and that
// is not retried). It is over 30 times that, so a timer firing late on a
// loaded machine running -race does not reach it, yet below go-redis's
// own 3 s read timeout, so a stalled operation still shows that our
// short defaults apply; TestRedisClientOptions pins their exact values.
const maxOutageLatency = 2500 * time.Millisecond

// storeOps are the operations checked during outages.
var storeOps = []struct {
	name string
	do   func(ctx context.Context, st store.Store) error
}{
	{"Get", func(ctx context.Context, st store.Store) error { _, err := st.Get(ctx, "k"); return err }},
	{"Set", func(ctx context.Context, st store.Store) error { return st.Set(ctx, "k", []byte("v"), time.Minute) }},
	{"SetNX", func(ctx context.Context, st store.Store) error {
		_, err := st.SetNX(ctx, "k", []byte("v"), time.Minute)
		return err
	}},
	{"GetDel", func(ctx context.Context, st store.Store) error { _, err := st.GetDel(ctx, "k"); return err }},
	{"Delete", func(ctx context.Context, st store.Store) error { return st.Delete(ctx, "k", "k2") }},
	{"Expire", func(ctx context.Context, st store.Store) error {
		_, err := st.Expire(ctx, "k", time.Minute)
		return err
	}},
	{"Ping", func(ctx context.Context, st store.Store) error { return st.Ping(ctx) }},
}

// wantFastFailure runs every operation and checks that each fails (not with
// ErrNotFound) within maxOutageLatency.
func wantFastFailure(t *testing.T, st store.Store) {
	t.Helper()
	for _, op := range storeOps {
		start := time.Now()
		err := op.do(t.Context(), st)
		took := time.Since(start)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s during outage = %v, want a backend error", op.name, err)
		}
		if took > maxOutageLatency {
			t.Errorf("%s during outage took %v, want < %v", op.name, took, maxOutageLatency)
		}
		if !strings.HasPrefix(err.Error(), "store: ") {
			t.Errorf("%s error %q lacks the store: prefix", op.name, err)
		}
		t.Logf("%s failed after %v: %v", op.name, took.Round(time.Millisecond), err)
	}
}

func TestRedisDownFailsFast(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	addr := srv.Addr()
	srv.Stop() // the port is now closed
	r := newRedis(t, store.RedisConfig{Addrs: []string{addr}})
	wantFastFailure(t, r)
}

// TestRedisStalledFailsFast uses a server that accepts connections but
// never answers, the case the short read timeout is for.
func TestRedisStalledFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, never reply
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	r := newRedis(t, store.RedisConfig{URL: "redis://" + ln.Addr().String()})
	wantFastFailure(t, r)
}

// TestRedisRecoversAfterRestart checks that the same client works again
// once Redis is back. Timeouts are relaxed: recovery is about dialing
// again after refused connections, which no read timeout takes part in,
// and a 50 ms timeout would fail the healthy calls on a loaded machine.
func TestRedisRecoversAfterRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	r := newRedis(t, relaxed(store.RedisConfig{URL: srv.URL()}))
	ctx := t.Context()
	if err := r.Set(ctx, "k", []byte("before"), time.Minute); err != nil {
		t.Fatalf("Set before outage: %v", err)
	}

	srv.Stop()
	// Enough failures to open go-redis's dial circuit breaker as well.
	for range 50 {
		if err := r.Set(ctx, "k", []byte("during"), time.Minute); err == nil {
			t.Fatal("Set during outage succeeded")
		}
	}

	srv.Restart(t)
	start := time.Now()
	var lastErr error
	for time.Since(start) < 30*time.Second { // "hung", not "slow"
		if lastErr = r.Set(ctx, "k", []byte("after"), time.Minute); lastErr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("Set still failing 30s after restart: %v", lastErr)
	}
	t.Logf("same client recovered %v after restart", time.Since(start).Round(time.Millisecond))
	got, err := r.Get(ctx, "k")
	if err != nil || string(got) != "after" {
		t.Fatalf("Get after recovery = %q, %v; want after", got, err)
	}
}

// TestRedisErrorsHideThePassword checks that no error, from configuration
// to connection failures to rejected credentials, contains the password.
func TestRedisErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-P@ss!word"
	escaped := "s3cr3t-P%40ss%21word"

	down := redistest.StartStandalone(t)
	downAddr := down.Addr()
	down.Stop()

	mr := miniredis.RunT(t)
	mr.RequireAuth("the-real-one")

	tests := []struct {
		name string
		cfg  store.RedisConfig
	}{
		{"url connection refused", store.RedisConfig{URL: "redis://user:" + escaped + "@" + downAddr + "/0"}},
		{"field connection refused", store.RedisConfig{Addrs: []string{downAddr}, Password: password}},
		{"cluster url connection refused", store.RedisConfig{URL: "redis://:" + escaped + "@" + downAddr, Cluster: true}},
		{"wrong password", store.RedisConfig{Addrs: []string{mr.Addr()}, Password: password}},
		{"wrong password in url", store.RedisConfig{URL: "redis://:" + escaped + "@" + mr.Addr()}},
		{"invalid config", store.RedisConfig{URL: "redis://:" + escaped + "@h:1", Addrs: []string{"h:2"}, Password: password}},
		{"bad url escape", store.RedisConfig{URL: "redis://:" + password + "%zz@h:1"}},
		{"bad url port", store.RedisConfig{URL: "redis://:" + escaped + "@h:notaport"}},
		{"bad database", store.RedisConfig{URL: "redis://:" + escaped + "@h:1/x"}},
		{"unknown option", store.RedisConfig{URL: "redis://:" + escaped + "@h:1?bogus=" + escaped}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var errs []error
			r, err := store.NewRedis(tc.cfg)
			if err != nil {
				errs = append(errs, err)
			} else {
				t.Cleanup(func() { r.Close() })
				for _, op := range storeOps {
					errs = append(errs, op.do(t.Context(), r))
				}
			}
			for _, err := range errs {
				if err == nil {
					t.Fatal("operation succeeded, want an error")
				}
				for _, secret := range []string{password, escaped, "s3cr3t"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error contains the password: %q", err)
					}
				}
			}
			t.Logf("e.g. %v", errs[0])
		})
	}
}
