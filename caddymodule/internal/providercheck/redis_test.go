package providercheck

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	rep := runCheck(t, Config{Redis: []Redis{{Name: "nowhere", Config: store.RedisConfig{URL: "redis://127.0.0.1:1/0"}}}, Timeout: 5 * time.Second})
	r := find(t, rep, "ping")
	if r.Status != Fail || r.Component != "store nowhere" || !strings.Contains(r.Detail, "connection refused") || !strings.Contains(r.Detail, "is Redis running") {
		t.Errorf("unreachable Redis: %+v", r)
	}
	rep = runCheck(t, Config{Redis: []Redis{{Config: store.RedisConfig{URL: "redis://127.0.0.1:6379", Addrs: []string{"127.0.0.1:6379"}}}}})
	if r := find(t, rep, "config"); r.Status != Fail {
		t.Errorf("invalid config: %+v", r)
	}
}

func TestRedisAnswers(t *testing.T) {
	t.Parallel()
	srv := redistest.StartStandalone(t)
	rep := runCheck(t, Config{Redis: []Redis{{Config: store.RedisConfig{URL: srv.URL()}}}})
	if r := find(t, rep, "ping"); r.Status != OK || !strings.Contains(r.Detail, "PONG in") || r.Component != "store "+srv.URL() {
		t.Errorf("ping: %+v", r)
	}
	// Protect the private server with a password, then check with a
	// wrong one and the right one.
	const password = "redis-password-do-not-print"
	admin, err := store.NewRedis(store.RedisConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hung)
	defer cancel()
	if err := admin.Client().ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	rep = runCheck(t, Config{Redis: []Redis{{Config: store.RedisConfig{URL: srv.URL(), Password: "wrong-" + password}}}})
	if r := find(t, rep, "ping"); r.Status != Fail || !strings.Contains(r.Detail, "check the store's username and password") || strings.Contains(r.Detail, password) {
		t.Errorf("ping with a wrong password: %+v", r)
	}
	rep = runCheck(t, Config{Redis: []Redis{{Config: store.RedisConfig{URL: strings.Replace(srv.URL(), "redis://", "redis://:"+password+"@", 1)}}}})
	if r := find(t, rep, "ping"); r.Status != OK || strings.Contains(r.Component+r.Detail, password) {
		t.Errorf("ping with the password in the URL: %+v", r)
	}
}

func TestDescribeRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  store.RedisConfig
		want string
	}{
		{"url with password", store.RedisConfig{URL: "rediss://user:pw@redis.example.com:6380/2"}, "rediss://redis.example.com:6380/2"},
		{"cluster", store.RedisConfig{Addrs: []string{"a:1", "b:2"}, Cluster: true}, "cluster a:1,b:2"},
		{"sentinel", store.RedisConfig{Addrs: []string{"s:26379"}, MasterName: "mymaster"}, "sentinel s:26379 master mymaster"},
		{"unparsable", store.RedisConfig{URL: "redis://:p%zz@host"}, "redis://(unparsable URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := describeRedis(tt.cfg); got != tt.want {
				t.Errorf("describeRedis = %q, want %q", got, tt.want)
			}
		})
	}
}
