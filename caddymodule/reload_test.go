package caddymodule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestReloadKeepsStore loads configurations into a running Caddy, as
// `caddy reload` does, and checks that a reload with an unchanged store
// keeps the in-memory state, while a store change lets it go.
func TestReloadKeepsStore(t *testing.T) {
	load := func(t *testing.T, apps string) *App {
		t.Helper()
		if err := caddy.Load([]byte(`{"admin":{"disabled":true},"apps":{`+apps+`}}`), true); err != nil {
			t.Fatalf("loading config: %v", err)
		}
		v, err := caddy.ActiveContext().App("portcullis")
		if err != nil {
			t.Fatal(err)
		}
		return v.(*App)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	ctx := context.Background()

	first := load(t, `"portcullis":{"rate_limits":[{"name":"a","rate":"1/s"}]}`)
	if err := first.store.Set(ctx, "pcl:{t:reload}", []byte("kept"), time.Minute); err != nil {
		t.Fatal(err)
	}

	// A reload that changes other settings but not the store.
	second := load(t, `"portcullis":{"rate_limits":[{"name":"b","rate":"2/s"}],"scopes":[{"name":"x","implies":["y"]}]}`)
	if second == first {
		t.Fatal("reload did not build a new app")
	}
	got, err := second.store.Get(ctx, "pcl:{t:reload}")
	if err != nil || string(got) != "kept" {
		t.Fatalf("after reload: %q, %v; want the state kept", got, err)
	}

	// A reload to another store releases the in-memory one ...
	load(t, `"portcullis":{"store":{"url":"redis://127.0.0.1:1/0"}}`)
	// ... so coming back starts from empty state.
	fourth := load(t, `"portcullis":{}`)
	if _, err := fourth.store.Get(ctx, "pcl:{t:reload}"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after switching stores and back: err = %v, want ErrNotFound", err)
	}
}
