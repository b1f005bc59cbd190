package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkHandlerBaseline measures what benchHandler costs without a
// portcullis handler (making and preparing the request, the recorder and
// the next handler), to subtract from the other BenchmarkHandler rows.
func BenchmarkHandlerBaseline(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
		r.Header.Set("Authorization", "Bearer pcl_0123456789abcdef")
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if err := next.ServeHTTP(w, r); err != nil || w.Code != 200 {
			b.Fatalf("status %d: %v", w.Code, err)
		}
	}
}

// BenchmarkHandlerAnonymous measures a request without credentials on an
// allow_anonymous path.
func BenchmarkHandlerAnonymous(b *testing.B) {
	t := &testing.T{}
	h, _ := newTestHandler(t, Handler{Require: []RequireConfig{{Scopes: []string{"orders:read"}}}, AllowAnonymous: []string{"/orders"}})
	benchHandler(b, h, func(r *http.Request) {})
}
