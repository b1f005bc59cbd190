package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
)

// review3Protected are the names no client copy of may reach the
// upstream: identity headers, the request id, URL and method overrides.
func review3Protected(h *Handler) []string {
	names := append(h.ih.names(), "X-Request-Id")
	names = append(names, request.URLOverrideHeaders...)
	return append(names, request.MethodOverrideHeaders...)
}

// review3Variant spells name as a lenient upstream would still read it:
// random case, '_' for '-', surrounding spaces and tabs.
func review3Variant(rng *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if rng.IntN(2) == 0 {
			switch {
			case c >= 'a' && c <= 'z':
				b[i] = c - 'a' + 'A'
			case c >= 'A' && c <= 'Z':
				b[i] = c - 'A' + 'a'
			case c == '-':
				b[i] = '_'
			}
		}
	}
	pad := []string{"", " ", "\t", "  "}
	return pad[rng.IntN(4)] + string(b) + pad[rng.IntN(4)]
}

// TestReview3NoIdentityOrOverrideHeaderSmuggled: whatever spelling a
// client uses for an identity, request-id or override header, several
// of them at once, no client value reaches the upstream under a name a
// lenient reader takes for a protected one.
func TestReview3NoIdentityOrOverrideHeaderSmuggled(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	protected := review3Protected(h)
	rng := rand.New(rand.NewPCG(9, 10))
	for round := range 300 {
		headers := map[string][]string{"X-Api-Key": {k.key}}
		for range 1 + rng.IntN(8) {
			n := review3Variant(rng, protected[rng.IntN(len(protected))])
			headers[n] = append(headers[n], "evil-"+fmt.Sprint(round))
		}
		_, up := serve(t, h, "GET", headers)
		if !up.called {
			t.Fatalf("round %d: request with %v not forwarded", round, headers)
		}
		for name, vals := range up.header {
			for _, p := range protected {
				if request.SameHeaderName(strings.TrimSpace(name), p) {
					for _, v := range vals {
						if strings.HasPrefix(v, "evil-") {
							t.Fatalf("round %d: client header %q = %q reached the upstream (sent %v)", round, name, v, headers)
						}
					}
				}
			}
		}
	}
}

// review3TrailerBody is a body that, at EOF, merges trailers into the
// request's Trailer map as net/http does when the chunked body ends.
type review3TrailerBody struct {
	r       io.Reader
	trailer http.Header
	late    map[string]string
}

func (b *review3TrailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		for k, v := range b.late {
			b.trailer[k] = []string{v}
		}
	}
	return n, err
}

func (b *review3TrailerBody) Close() error { return nil }

// TestReview3TrailersCarryNoProtectedName: a declared trailer with a
// protected name in any spelling is refused; an undeclared one that
// arrives with the end of the body never reaches the upstream.
func TestReview3TrailersCarryNoProtectedName(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	protected := append(review3Protected(h), "Authorization", "Cookie", "X-Api-Key", "Proxy-Authorization")
	rng := rand.New(rand.NewPCG(11, 12))
	for range 100 {
		name := review3Variant(rng, protected[rng.IntN(len(protected))])
		// Declared.
		r := httptest.NewRequest("POST", "http://gw.test/orders", strings.NewReader("x"))
		r.Header.Set("X-Api-Key", k.key)
		r.Header["Trailer"] = []string{"X-Ok, " + name}
		r.Trailer = http.Header{"X-Ok": nil, name: nil}
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		up := &upstream{}
		_ = h.ServeHTTP(w, r, up)
		if up.called {
			t.Fatalf("declared trailer %q accepted", name)
		}
		// Undeclared, merged at EOF.
		r = httptest.NewRequest("POST", "http://gw.test/orders", nil)
		r.Header.Set("X-Api-Key", k.key)
		r.Trailer = http.Header{"X-Ok": nil}
		r.Body = &review3TrailerBody{r: strings.NewReader("body"), trailer: r.Trailer, late: map[string]string{name: "evil", "X-Ok": "fine"}}
		w = httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		var got http.Header
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			_, _ = io.ReadAll(r.Body)
			got = r.Trailer.Clone()
			w.WriteHeader(http.StatusOK)
			return nil
		})
		if err := h.ServeHTTP(w, r, next); err != nil || got == nil {
			t.Fatalf("undeclared trailer %q: %v (forwarded %v)", name, err, got != nil)
		}
		for n := range got {
			if !request.SameHeaderName(n, "X-Ok") {
				t.Fatalf("late trailer %q reached the upstream: %v", n, got)
			}
		}
	}
}

// TestReview3RequestIDTrustOnlyProxies: an incoming X-Request-Id is used
// only from a trusted proxy and only when well formed; otherwise the
// gateway's own id is sent upstream and answered; chained handlers of
// one request share the id.
func TestReview3RequestIDTrustOnlyProxies(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	tests := []struct {
		name     string
		trusted  bool
		incoming []string
		keep     bool
	}{
		{"untrusted", false, []string{"attacker-chosen-id"}, false},
		{"untrusted lowercase name", false, nil, false},
		{"trusted", true, []string{"proxy-id.1:2_3"}, true},
		{"trusted, bad bytes", true, []string{"id\r\nX-Auth-Subject: x"}, false},
		{"trusted, too long", true, []string{strings.Repeat("a", 129)}, false},
		{"trusted, space", true, []string{"a b"}, false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
		r.Header.Set("X-Api-Key", k.key)
		if tc.incoming != nil {
			r.Header["X-Request-Id"] = tc.incoming
		} else {
			r.Header["x-request-id"] = []string{"attacker-chosen-id"}
		}
		w := httptest.NewRecorder()
		repl := caddy.NewReplacer()
		r = caddyhttp.PrepareRequest(r, repl, w, nil)
		caddyhttp.SetVar(r.Context(), caddyhttp.TrustedProxyVarKey, tc.trusted)
		var ids []string
		var last *upstream
		for range 2 { // two chained handlers
			up := &upstream{}
			if err := h.ServeHTTP(w, r, up); err != nil || !up.called {
				t.Fatalf("%s: %v", tc.name, err)
			}
			ids = append(ids, up.header.Get("X-Request-Id"))
			last = up
		}
		ph, _ := repl.GetString("http.auth.request_id")
		if ids[0] != ids[1] || ph != ids[0] || w.Header().Get("X-Request-Id") != ids[0] || len(last.header.Values("X-Request-Id")) != 1 {
			t.Fatalf("%s: ids %q, placeholder %q, response %q, upstream values %q", tc.name, ids, ph, w.Header().Get("X-Request-Id"), last.header.Values("X-Request-Id"))
		}
		for n := range last.header {
			if n != "X-Request-Id" && request.SameHeaderName(n, "X-Request-Id") {
				t.Fatalf("%s: client's %q reached the upstream", tc.name, n)
			}
		}
		if got := tc.incoming != nil && ids[0] == tc.incoming[0]; got != tc.keep {
			t.Fatalf("%s: upstream id %q, incoming %q, want kept %v", tc.name, ids[0], tc.incoming, tc.keep)
		}
	}
}

// TestReview3AllowedEventFixedOnceLogged: once the allowed event is
// handed to zap (the first final status), nothing the upstream does
// after (another WriteHeader, writes, an error return) changes what the
// sink reads from it, however late it reads.
func TestReview3AllowedEventFixedOnceLogged(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("x"))
		_, _ = io.Copy(w, strings.NewReader("y"))
		return caddyhttp.Error(http.StatusBadGateway, errors.New("late"))
	})
	_, f := serveOneEvent(t, h, k.key, next) // encoded now, after everything
	if fmt.Sprint(f["upstream_status"]) != "202" || f["result"] != "allow" {
		t.Fatalf("event = %v, want upstream_status 202", f)
	}
}

// TestReview3UpstreamStatusOfBodyCopiedWithReadFrom: an upstream that
// answers with io.Copy and no WriteHeader (the implicit 200, through
// ReadFrom) and then returns an error is logged with the 200 the client
// got. The review found it logged with the error's status instead
// (ReadFrom, inherited from ResponseWriterWrapper, bypassed the status
// writer); statusWriter.ReadFrom now records the 200.
func TestReview3UpstreamStatusOfBodyCopiedWithReadFrom(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(w, struct{ io.Reader }{strings.NewReader("body")}) // a body, as a proxied one, that is no WriterTo
		return caddyhttp.Error(http.StatusBadGateway, errors.New("upstream reset after the body"))
	})
	w, f := serveOneEvent(t, h, k.key, next)
	if got := fmt.Sprint(f["upstream_status"]); w.Code != http.StatusOK || got != "200" {
		t.Fatalf("client got %d, audit upstream_status %s", w.Code, got)
	}
}

// serveOneEvent serves GET /orders with the API key through h to next,
// and returns the recorder and the fields of the one audit event it
// logged (failing t unless exactly one).
func serveOneEvent(t *testing.T, h *Handler, key string, next caddyhttp.Handler) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	logs := observe(h)
	r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
	r.Header.Set("X-Api-Key", key)
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	_ = h.ServeHTTP(w, r, next)
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d events, want 1", len(entries))
	}
	return w, entries[0].ContextMap()
}
