package oidcflow

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// flakyStore is a store whose single-use operations fail while broken.
type flakyStore struct {
	store.Store
	broken atomic.Bool
}

var errStoreDown = errors.New("store: connection refused")

func (s *flakyStore) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if s.broken.Load() {
		return false, errStoreDown
	}
	return s.Store.SetNX(ctx, key, value, ttl)
}

func (s *flakyStore) GetDel(ctx context.Context, key string) ([]byte, error) {
	if s.broken.Load() {
		return nil, errStoreDown
	}
	return s.Store.GetDel(ctx, key)
}

// TestStoreUnavailable: a state store that cannot be reached makes
// logins, callbacks and back-channel logouts ErrUnavailable (503, try
// again), never a state or replay error.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	mem, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	st := &flakyStore{Store: mem}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Store = st })

	red := startLogin(t, c, LoginOptions{})
	q := idp.authorize(t, red.URL, "alice")
	st.broken.Store(true)
	if _, err := c.StartLogin(t.Context(), LoginOptions{}); !errors.Is(err, ErrUnavailable) || Reason(err) != ReasonUnavailable {
		t.Fatalf("StartLogin with the store down: %v", err)
	}
	if _, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Callback with the store down: %v", err)
	}
	if _, err := c.VerifyLogoutToken(t.Context(), idp.sign(logoutClaims(idp, clk.Now(), "jti-s"))); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("VerifyLogoutToken with the store down: %v", err)
	}
	// Back up: the same callback still works (the state was not consumed).
	st.broken.Store(false)
	if _, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies)); err != nil {
		t.Fatalf("Callback after the store came back: %v", err)
	}
}
