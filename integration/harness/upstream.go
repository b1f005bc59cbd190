package harness

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Upstream is a backend that records every request it receives and
// answers with the request's headers as JSON.
type Upstream struct {
	// Addr is host:port, for reverse_proxy.
	Addr string

	mu       sync.Mutex
	received []http.Header
}

// StartUpstream starts a recording upstream on loopback.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.received = append(u.received, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	u.Addr = srv.Listener.Addr().String()
	return u
}

// Received returns the headers of every request received so far.
func (u *Upstream) Received() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.received...)
}

// Count returns the number of requests received so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.received)
}
