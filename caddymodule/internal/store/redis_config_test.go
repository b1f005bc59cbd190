package store_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func TestRedisConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     store.RedisConfig
		wantErr string // substring; empty means valid
	}{
		{name: "url", cfg: store.RedisConfig{URL: "redis://127.0.0.1:6380/2"}},
		{name: "url without port", cfg: store.RedisConfig{URL: "redis://redis.internal"}},
		{name: "rediss url", cfg: store.RedisConfig{URL: "rediss://user:pw@redis.internal:6380"}},
		{name: "one addr", cfg: store.RedisConfig{Addrs: []string{"127.0.0.1:6380"}}},
		{name: "ipv6 addr", cfg: store.RedisConfig{Addrs: []string{"[::1]:6380"}}},
		{name: "cluster addrs", cfg: store.RedisConfig{Addrs: []string{"a:7000", "b:7000", "c:7000"}, Cluster: true}},
		{name: "cluster url", cfg: store.RedisConfig{URL: "redis://a:7000?addr=b:7000&addr=c:7000", Cluster: true}},
		{name: "cluster url db 0", cfg: store.RedisConfig{URL: "redis://a:7000/0", Cluster: true}},
		{name: "sentinel", cfg: store.RedisConfig{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 3}},
		{name: "tls field", cfg: store.RedisConfig{URL: "redis://h:1", TLS: &tls.Config{ServerName: "h"}}},
		{name: "all tunables", cfg: store.RedisConfig{Addrs: []string{"h:1"}, DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 5}},

		{name: "nothing", cfg: store.RedisConfig{}, wantErr: "set url or addrs"},
		{name: "url and addrs", cfg: store.RedisConfig{URL: "redis://h:1", Addrs: []string{"h:2"}}, wantErr: "not both"},
		{name: "http scheme", cfg: store.RedisConfig{URL: "http://h:1"}, wantErr: "scheme"},
		{name: "unix scheme", cfg: store.RedisConfig{URL: "unix:///tmp/redis.sock"}, wantErr: "scheme"},
		{name: "no scheme", cfg: store.RedisConfig{URL: "h:6379"}, wantErr: "scheme"},
		{name: "two addrs standalone", cfg: store.RedisConfig{Addrs: []string{"a:1", "b:1"}}, wantErr: "need cluster"},
		{name: "addr without port", cfg: store.RedisConfig{Addrs: []string{"h"}}, wantErr: "not host:port"},
		{name: "addr without host", cfg: store.RedisConfig{Addrs: []string{":6379"}}, wantErr: "not host:port"},
		{name: "addr port zero", cfg: store.RedisConfig{Addrs: []string{"h:0"}}, wantErr: "invalid port"},
		{name: "addr port too big", cfg: store.RedisConfig{Addrs: []string{"h:70000"}}, wantErr: "invalid port"},
		{name: "cluster db", cfg: store.RedisConfig{Addrs: []string{"a:1"}, Cluster: true, DB: 1}, wantErr: "database 0"},
		{name: "cluster url db", cfg: store.RedisConfig{URL: "redis://a:1/3", Cluster: true}, wantErr: "database"},
		{name: "sentinel and cluster", cfg: store.RedisConfig{Addrs: []string{"a:1"}, MasterName: "m", Cluster: true}, wantErr: "exclusive"},
		{name: "sentinel url", cfg: store.RedisConfig{URL: "redis://a:1", MasterName: "m"}, wantErr: "Sentinel needs addrs"},
		{name: "addr param without cluster", cfg: store.RedisConfig{URL: "redis://a:1?addr=b:1"}, wantErr: "cluster mode"},
		{name: "negative db", cfg: store.RedisConfig{Addrs: []string{"a:1"}, DB: -1}, wantErr: "db must not be negative"},
		{name: "negative dial timeout", cfg: store.RedisConfig{Addrs: []string{"a:1"}, DialTimeout: -1}, wantErr: "dial timeout"},
		{name: "negative read timeout", cfg: store.RedisConfig{Addrs: []string{"a:1"}, ReadTimeout: -1}, wantErr: "read timeout"},
		{name: "negative write timeout", cfg: store.RedisConfig{Addrs: []string{"a:1"}, WriteTimeout: -1}, wantErr: "write timeout"},
		{name: "negative pool size", cfg: store.RedisConfig{Addrs: []string{"a:1"}, PoolSize: -1}, wantErr: "pool size"},
		{name: "bad url query", cfg: store.RedisConfig{URL: "redis://a:1?read_timeout=soon"}, wantErr: "read_timeout"},
		{name: "several problems", cfg: store.RedisConfig{Addrs: []string{"a"}, DB: -1}, wantErr: "db must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := store.NewRedis(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRedis: %v", err)
				}
				if err := r.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if err == nil {
				r.Close()
				t.Fatalf("NewRedis succeeded, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "store: ") {
				t.Fatalf("NewRedis error = %q, want it to start with store: and contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestNewRedisNoNetwork checks that NewRedis does not connect, in each
// mode: the addresses are local listeners, and after NewRedis and Close
// the test connects to each itself and accepts connections until its own
// arrives. A connection NewRedis made would have been queued before it.
// No clock is involved, so a busy machine cannot fail it.
func TestNewRedisNoNetwork(t *testing.T) {
	t.Parallel()
	listen := func(t *testing.T, n int) ([]net.Listener, []string) {
		var lns []net.Listener
		var addrs []string
		for range n {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			lns = append(lns, ln)
			addrs = append(addrs, ln.Addr().String())
		}
		return lns, addrs
	}
	tests := []struct {
		name  string
		addrs int
		cfg   func(addrs []string) store.RedisConfig
	}{
		{"standalone", 1, func(a []string) store.RedisConfig { return store.RedisConfig{Addrs: a} }},
		{"standalone url", 1, func(a []string) store.RedisConfig { return store.RedisConfig{URL: "redis://" + a[0]} }},
		{"cluster", 2, func(a []string) store.RedisConfig { return store.RedisConfig{Addrs: a, Cluster: true} }},
		{"sentinel", 2, func(a []string) store.RedisConfig { return store.RedisConfig{Addrs: a, MasterName: "m"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lns, addrs := listen(t, tc.addrs)
			r, err := store.NewRedis(tc.cfg(addrs))
			if err != nil {
				t.Fatalf("NewRedis(%v): %v", addrs, err)
			}
			r.Close()
			for _, ln := range lns {
				own, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer own.Close()
				// A deadline that means "hung", never "slow": our own
				// connection is already queued.
				ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
				for {
					c, err := ln.Accept()
					if err != nil {
						t.Fatalf("accepting our own connection: %v", err)
					}
					c.Close()
					if c.RemoteAddr().String() == own.LocalAddr().String() {
						break
					}
					t.Errorf("NewRedis(%v) and Close connected to %s: they must not do network I/O", addrs, ln.Addr())
				}
			}
		})
	}
}

func TestRedisClientOptions(t *testing.T) {
	t.Parallel()
	myTLS := &tls.Config{ServerName: "custom.example", MinVersion: tls.VersionTLS13}
	tests := []struct {
		name  string
		cfg   store.RedisConfig
		check func(t *testing.T, o *redis.Options)
	}{
		{"defaults", store.RedisConfig{URL: "redis://h:1"}, func(t *testing.T, o *redis.Options) {
			eq(t, "Addr", o.Addr, "h:1")
			eq(t, "DialTimeout", o.DialTimeout, store.DefaultDialTimeout)
			eq(t, "ReadTimeout", o.ReadTimeout, 50*time.Millisecond)
			eq(t, "WriteTimeout", o.WriteTimeout, 50*time.Millisecond)
			eq(t, "MaxRetries", o.MaxRetries, 1)
			eq(t, "DialerRetries", o.DialerRetries, 1)
			eq(t, "ContextTimeoutEnabled", o.ContextTimeoutEnabled, true)
			eq(t, "TLS", o.TLSConfig == nil, true)
		}},
		{"explicit timeouts and pool", store.RedisConfig{Addrs: []string{"h:1"}, DialTimeout: 3 * time.Second,
			ReadTimeout: 200 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, PoolSize: 7},
			func(t *testing.T, o *redis.Options) {
				eq(t, "DialTimeout", o.DialTimeout, 3*time.Second)
				eq(t, "ReadTimeout", o.ReadTimeout, 200*time.Millisecond)
				eq(t, "WriteTimeout", o.WriteTimeout, 300*time.Millisecond)
				eq(t, "PoolSize", o.PoolSize, 7)
			}},
		{"url query timeouts", store.RedisConfig{URL: "redis://h:1?read_timeout=300ms&dial_timeout=2s&max_retries=4"},
			func(t *testing.T, o *redis.Options) {
				eq(t, "ReadTimeout", o.ReadTimeout, 300*time.Millisecond)
				eq(t, "DialTimeout", o.DialTimeout, 2*time.Second)
				eq(t, "WriteTimeout", o.WriteTimeout, 50*time.Millisecond)
				eq(t, "MaxRetries", o.MaxRetries, 4)
			}},
		{"field beats url query", store.RedisConfig{URL: "redis://h:1?read_timeout=300ms", ReadTimeout: time.Second},
			func(t *testing.T, o *redis.Options) { eq(t, "ReadTimeout", o.ReadTimeout, time.Second) }},
		{"url credentials and db", store.RedisConfig{URL: "redis://alice:pw%21@h:1/2"}, func(t *testing.T, o *redis.Options) {
			eq(t, "Username", o.Username, "alice")
			eq(t, "Password", o.Password, "pw!")
			eq(t, "DB", o.DB, 2)
		}},
		{"fields beat url credentials and db", store.RedisConfig{URL: "redis://alice:pw@h:1/2",
			Username: "bob", Password: "other", DB: 5}, func(t *testing.T, o *redis.Options) {
			eq(t, "Username", o.Username, "bob")
			eq(t, "Password", o.Password, "other")
			eq(t, "DB", o.DB, 5)
		}},
		{"addr credentials and db", store.RedisConfig{Addrs: []string{"h:1"}, Username: "u", Password: "p", DB: 4},
			func(t *testing.T, o *redis.Options) {
				eq(t, "Addr", o.Addr, "h:1")
				eq(t, "Username", o.Username, "u")
				eq(t, "Password", o.Password, "p")
				eq(t, "DB", o.DB, 4)
			}},
		{"rediss", store.RedisConfig{URL: "rediss://redis.example:6380"}, func(t *testing.T, o *redis.Options) {
			if o.TLSConfig == nil {
				t.Fatal("no TLS for rediss://")
			}
			eq(t, "ServerName", o.TLSConfig.ServerName, "redis.example")
		}},
		{"tls field", store.RedisConfig{URL: "redis://h:1", TLS: myTLS}, func(t *testing.T, o *redis.Options) {
			if o.TLSConfig == nil || o.TLSConfig == myTLS {
				t.Fatalf("TLSConfig = %p, want a clone of %p", o.TLSConfig, myTLS)
			}
			eq(t, "ServerName", o.TLSConfig.ServerName, "custom.example")
			eq(t, "MinVersion", o.TLSConfig.MinVersion, uint16(tls.VersionTLS13))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRedis(t, tc.cfg)
			c, ok := r.Client().(*redis.Client)
			if !ok {
				t.Fatalf("Client() is %T, want *redis.Client", r.Client())
			}
			tc.check(t, c.Options())
		})
	}
}

func TestRedisClientModes(t *testing.T) {
	t.Parallel()
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		r := newRedis(t, store.RedisConfig{URL: "redis://:pw@a:7000?addr=b:7001", Cluster: true, ReadTimeout: time.Second})
		c, ok := r.Client().(*redis.ClusterClient)
		if !ok {
			t.Fatalf("Client() is %T, want *redis.ClusterClient", r.Client())
		}
		o := c.Options()
		eq(t, "Addrs", strings.Join(o.Addrs, ","), "a:7000,b:7001")
		eq(t, "Password", o.Password, "pw")
		eq(t, "ReadTimeout", o.ReadTimeout, time.Second)
		eq(t, "WriteTimeout", o.WriteTimeout, store.DefaultWriteTimeout)
		eq(t, "DialTimeout", o.DialTimeout, store.DefaultDialTimeout)
		eq(t, "MaxRetries", o.MaxRetries, 1)
		eq(t, "ContextTimeoutEnabled", o.ContextTimeoutEnabled, true)
	})
	t.Run("sentinel", func(t *testing.T) {
		t.Parallel()
		r := newRedis(t, store.RedisConfig{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 3, Password: "pw"})
		c, ok := r.Client().(*redis.Client)
		if !ok {
			t.Fatalf("Client() is %T, want the *redis.Client of a failover client", r.Client())
		}
		o := c.Options()
		eq(t, "DB", o.DB, 3)
		eq(t, "Password", o.Password, "pw")
		eq(t, "ReadTimeout", o.ReadTimeout, store.DefaultReadTimeout)
	})
}

// eq fails the test if got != want.
func eq[T comparable](t *testing.T, name string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
