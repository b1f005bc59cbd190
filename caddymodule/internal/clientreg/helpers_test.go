package clientreg

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// hung is the guard for waits that only end if the code under test works;
// it is never a performance bound.
const hung = 30 * time.Second

// docServer is a TLS test server whose handler a test sets per path; hits
// counts requests.
type docServer struct {
	*httptest.Server
	hits     atomic.Int64
	handlers map[string]http.HandlerFunc
}

// newDocServer starts a TLS server serving handlers by path (404 for
// others), stopped at cleanup.
func newDocServer(t *testing.T, handlers map[string]http.HandlerFunc) *docServer {
	t.Helper()
	s := &docServer{handlers: handlers}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if h, ok := s.handlers[r.URL.Path]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// serveJSON answers with body as application/json.
func serveJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// doc returns a valid metadata document for id, with extra members merged
// in (a nil value deletes a member).
func doc(t testing.TB, id string, extra map[string]any) string {
	t.Helper()
	m := map[string]any{
		"client_id":                  id,
		"client_name":                "Test Client",
		"redirect_uris":              []string{"http://127.0.0.1:3000/callback", "https://app.example/cb"},
		"token_endpoint_auth_method": "none",
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newDocRegistry returns a Registry for metadata documents fetched from
// srv with o (MetadataDocuments on, srv's TLS client, FetchTimeout the
// hung guard unless set), on a fake clock.
func newDocRegistry(t *testing.T, srv *docServer, o Options) (*Registry, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New()
	o.MetadataDocuments = true
	if srv != nil && o.HTTPClient == nil {
		o.HTTPClient = srv.Client()
	}
	if o.Now == nil {
		o.Now = clk.Now
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = hung // a fetch that should work must not fail on a loaded machine
	}
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, clk
}

// wantReason fails unless err is an *Error with the code and reason.
func wantReason(t *testing.T, err error, code, reason string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s/%s", err, err, code, reason)
	}
	if e.Code != code || e.Reason != reason {
		t.Fatalf("error = %s/%s (%v), want %s/%s", e.Code, e.Reason, err, code, reason)
	}
	return e
}
