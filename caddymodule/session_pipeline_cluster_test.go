package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestSessionPipelineClusterZoneNodeDown: on a Cluster the session and
// the bucket live on different nodes; with the bucket's node down the
// session read (on its own node, same pipeline) still succeeds, and the
// zone follows its on_error (deny, the default: 503), as when the script
// was sent in a round trip of its own.
func TestSessionPipelineClusterZoneNodeDown(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	s := newRedisSessionSetup(t, store.RedisConfig{Addrs: c.Addrs(), Cluster: true}, Handler{}, userZone)
	cookie, subject, _, bucketNode := splitUser(t, s)
	for range 2 {
		if w, up := sessionRequest(t, s.h, cookie); w.Code != 200 || !up.called || up.header.Get("X-Auth-Subject") != subject {
			t.Fatalf("status %d, upstream %v: %s", w.Code, up.called, w.Body)
		}
	}
	for _, n := range c.Nodes() {
		if n.Addr() == bucketNode {
			n.Stop()
		}
	}
	n := s.tripsOf(func() {
		w, up := sessionRequest(t, s.h, cookie)
		if w.Code != http.StatusServiceUnavailable || up.called || !strings.Contains(w.Body.String(), "rate limiting is unavailable") {
			t.Fatalf("bucket node down: status %d, upstream %v: %s", w.Code, up.called, w.Body)
		}
	})
	if n != 1 {
		t.Errorf("bucket node down: %d round trips, want 1", n)
	}
}

// splitUser logs in, on s's Cluster, a user whose rate-limit bucket
// (userZone) and session record are on different masters, and returns
// the session cookie, the subject and the two masters' addresses.
func splitUser(t *testing.T, s *redisSessionSetup) (cookie *http.Cookie, subject, sessionNode, bucketNode string) {
	t.Helper()
	cc := s.st.Client().(*redis.ClusterClient)
	rl := s.h.app.limiter.(*ratelimit.Redis)
	ctx := context.Background()
	nodeOf := func(key string) string {
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}
	sessionKeys := func() []string {
		var mu sync.Mutex // ForEachMaster runs on the masters in parallel
		var keys []string
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			ks, err := m.Keys(ctx, "pcl:{s:*").Result()
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, ks...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	for i := 0; cookie == nil && i < 64; i++ {
		before := sessionKeys()
		sub := fmt.Sprintf("user-%d", i)
		_, ck, err := s.h.app.sessions.Create(ctx, session.Login{Subject: sub})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range sessionKeys() {
			if bucket := nodeOf(rl.BucketKey(userZone.Name, sub)); !slices.Contains(before, k) && nodeOf(k) != bucket {
				cookie, subject, sessionNode, bucketNode = ck, sub, nodeOf(k), bucket
			}
		}
	}
	if cookie == nil {
		t.Fatal("no user whose bucket and session are on different nodes")
	}
	return cookie, subject, sessionNode, bucketNode
}
