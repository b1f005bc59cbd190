package clientreg

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestResolveDocument(t *testing.T) {
	t.Parallel()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/client.json": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, srv.URL+"/client.json", map[string]any{
				"client_uri": "https://app.example/", "logo_uri": "https://app.example/logo.png",
				"scope": "mcp:tools mcp:read", "grant_types": []string{"authorization_code", "refresh_token"},
				"unknown_member": map[string]any{"ignored": true},
			}))(w, r)
		},
	})
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	id := srv.URL + "/client.json"
	c, err := reg.Resolve(t.Context(), id)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := Client{
		ID: id, Kind: KindMetadataDocument, Name: "Test Client",
		URI: "https://app.example/", LogoURI: "https://app.example/logo.png",
		RedirectURIs:  []string{"http://127.0.0.1:3000/callback", "https://app.example/cb"},
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none",
		Scope: "mcp:tools mcp:read",
	}
	c.IssuedAt = time.Time{}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("client = %+v\nwant     %+v", c, want)
	}
	if err := reg.Authenticate(t.Context(), c, ""); err != nil {
		t.Errorf("Authenticate(public, no secret) = %v", err)
	}
	if err := reg.Authenticate(t.Context(), c, "guess"); err == nil {
		t.Error("Authenticate(public, a secret) passed")
	}
}

// TestHostileDocuments resolves documents built to hurt the server or to
// pass for another client; each must be refused with its reason.
func TestHostileDocuments(t *testing.T) {
	t.Parallel()
	const max = 512
	var srv *docServer
	self := func(p string) string { return srv.URL + p }
	endlessDone := make(chan error, 1)
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/huge": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/huge"), map[string]any{"client_name": strings.Repeat("A", 4*max)}))(w, r)
		},
		"/endless": func(w http.ResponseWriter, r *http.Request) {
			// No Content-Length: a chunked stream that never ends until
			// the client stops reading and the write fails.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"client_id":"` + self("/endless") + `","client_name":"`))
			chunk := []byte(strings.Repeat("B", 1024))
			for {
				if _, err := w.Write(chunk); err != nil {
					endlessDone <- err
					return
				}
				w.(http.Flusher).Flush()
			}
		},
		"/redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, self("/good"), http.StatusFound)
		},
		"/redirect-permanent": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, self("/good"), http.StatusPermanentRedirect)
		},
		"/good": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/redirect"), nil))(w, r)
		},
		"/mismatch":       func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, self("/other"), nil))(w, r) },
		"/mismatch-slash": func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, self("/mismatch-slash/"), nil))(w, r) },
		"/mismatch-case": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, strings.ToUpper(self("/mismatch-case")[:8])+self("/mismatch-case")[8:], nil))(w, r)
		},
		"/no-client-id": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, "", map[string]any{"client_id": nil}))(w, r)
		},
		"/html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(doc(t, self("/html"), nil)))
		},
		"/no-type": func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte(doc(t, self("/no-type"), nil)))
		},
		"/not-json": serveJSON("<html><body>hello</body></html>"),
		"/array":    serveJSON(`[{"client_id":"x"}]`),
		"/duplicate-id": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(`{"client_id":"https://evil.example/c","client_id":"`+self("/duplicate-id")+`","redirect_uris":["https://a.example/cb"]}`)(w, r)
		},
		"/duplicate-redirect": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(`{"client_id":"`+self("/duplicate-redirect")+`","redirect_uris":["https://a.example/cb"],"redirect_uris":["https://evil.example/cb"]}`)(w, r)
		},
		"/trailing": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/trailing"), nil)+`{"client_id":"x"}`)(w, r)
		},
		"/secret": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/secret"), map[string]any{"client_secret": "s3cret"}))(w, r)
		},
		"/secret-exp": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/secret-exp"), map[string]any{"client_secret_expires_at": 0}))(w, r)
		},
		"/basic": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/basic"), map[string]any{"token_endpoint_auth_method": "client_secret_basic"}))(w, r)
		},
		"/post": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/post"), map[string]any{"token_endpoint_auth_method": "client_secret_post"}))(w, r)
		},
		"/secret-jwt": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/secret-jwt"), map[string]any{"token_endpoint_auth_method": "client_secret_jwt"}))(w, r)
		},
		"/pkjwt-no-keys": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/pkjwt-no-keys"), map[string]any{"token_endpoint_auth_method": "private_key_jwt"}))(w, r)
		},
		"/no-redirects": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/no-redirects"), map[string]any{"redirect_uris": nil}))(w, r)
		},
		"/js-redirect": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/js-redirect"), map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}))(w, r)
		},
		"/http-redirect": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/http-redirect"), map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}))(w, r)
		},
		"/implicit": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, self("/implicit"), map[string]any{"response_types": []string{"token"}}))(w, r)
		},
		"/not-found": http.NotFound,
		"/gone": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		},
	})
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true, MaxDocumentBytes: max})

	tests := []struct {
		path, code, reason string
	}{
		{"/huge", CodeInvalidClient, ReasonTooLarge},
		{"/endless", CodeInvalidClient, ReasonTooLarge},
		{"/redirect", CodeInvalidClient, ReasonRedirect},
		{"/redirect-permanent", CodeInvalidClient, ReasonRedirect},
		{"/mismatch", CodeInvalidClient, ReasonClientIDMismatch},
		{"/mismatch-slash", CodeInvalidClient, ReasonClientIDMismatch},
		{"/mismatch-case", CodeInvalidClient, ReasonClientIDMismatch},
		{"/no-client-id", CodeInvalidClient, ReasonClientIDMismatch},
		{"/html", CodeInvalidClient, ReasonContentType},
		{"/no-type", CodeInvalidClient, ReasonContentType},
		{"/not-json", CodeInvalidClient, ReasonMalformed},
		{"/array", CodeInvalidClient, ReasonMalformed},
		{"/duplicate-id", CodeInvalidClient, ReasonMalformed},
		{"/duplicate-redirect", CodeInvalidClient, ReasonMalformed},
		{"/trailing", CodeInvalidClient, ReasonMalformed},
		{"/secret", CodeInvalidClient, ReasonSymmetricSecret},
		{"/secret-exp", CodeInvalidClient, ReasonSymmetricSecret},
		{"/basic", CodeInvalidClient, ReasonSymmetricSecret},
		{"/post", CodeInvalidClient, ReasonSymmetricSecret},
		{"/secret-jwt", CodeInvalidClient, ReasonSymmetricSecret},
		{"/pkjwt-no-keys", CodeInvalidClient, ReasonInvalidMetadata},
		{"/no-redirects", CodeInvalidClient, ReasonInvalidMetadata},
		{"/js-redirect", CodeInvalidClient, ReasonInvalidRedirectURI},
		{"/http-redirect", CodeInvalidClient, ReasonInvalidRedirectURI},
		{"/implicit", CodeInvalidClient, ReasonInvalidMetadata},
		{"/not-found", CodeInvalidClient, ReasonStatus},
		{"/gone", CodeTemporarilyUnavailable, ReasonStatus},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			t.Parallel()
			c, err := reg.Resolve(t.Context(), self(tc.path))
			if err == nil {
				t.Fatalf("Resolve accepted %s: %+v", tc.path, c)
			}
			e := wantReason(t, err, tc.code, tc.reason)
			if strings.Contains(e.Description, srv.Listener.Addr().String()) {
				t.Errorf("description %q shows internal detail", e.Description)
			}
			if tc.code == CodeTemporarilyUnavailable && !errors.Is(err, ErrUnavailable) {
				t.Errorf("errors.Is(%v, ErrUnavailable) = false", err)
			}
		})
	}
	t.Run("endless stream stopped", func(t *testing.T) {
		// The endless handler only returns once a write fails: the client
		// closed the connection after reading at most max+1 bytes.
		_, _ = reg.Resolve(t.Context(), self("/endless"))
		select {
		case err := <-endlessDone:
			if err == nil {
				t.Fatal("endless handler ended without a write error")
			}
		case <-time.After(hung):
			t.Fatal("hung: the client kept reading the endless document")
		}
	})
}

// TestRedirectNotFollowed shows the redirect target is never fetched.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var target *docServer
	target = newDocServer(t, map[string]http.HandlerFunc{
		"/to": func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, target.URL+"/to", nil))(w, r) },
	})
	srv := newDocServer(t, map[string]http.HandlerFunc{
		"/from": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/to", http.StatusFound)
		},
	})
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	_, err := reg.Resolve(t.Context(), srv.URL+"/from")
	wantReason(t, err, CodeInvalidClient, ReasonRedirect)
	if n := target.hits.Load(); n != 0 {
		t.Errorf("redirect target fetched %d times", n)
	}
}

// TestSlowDocumentTimesOut: a server that sends headers and then nothing
// is cut off by FetchTimeout (short here; the test only checks that the
// fetch gives up, not how fast).
func TestSlowDocumentTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/slow-body": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"client_id":`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		},
		"/slow-headers": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		},
	})
	defer close(release)
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true, FetchTimeout: 50 * time.Millisecond})
	for _, p := range []string{"/slow-body", "/slow-headers"} {
		done := make(chan error, 1)
		go func() {
			_, err := reg.Resolve(context.Background(), srv.URL+p)
			done <- err
		}()
		select {
		case err := <-done:
			e := wantReason(t, err, CodeTemporarilyUnavailable, ReasonTimeout)
			if !errors.Is(e, ErrUnavailable) {
				t.Errorf("%s: not ErrUnavailable: %v", p, err)
			}
		case <-time.After(hung):
			t.Fatalf("hung: %s was never given up", p)
		}
	}
}

// TestPrivateAddressesRefused: with AllowPrivateAddresses off, the dial
// check refuses loopback, private, link-local (cloud metadata) and mapped
// addresses, whether named by a host name that resolves to them or by a
// literal; the test server never sees a request.
func TestPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/client.json": func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, "https://"+r.Host+"/client.json", nil))(w, r)
		},
	})
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	reg, _ := newDocRegistry(t, srv, Options{})
	ids := []string{
		"https://localhost:" + port + "/client.json",
		"https://127.0.0.1:" + port + "/client.json",
		"https://[::ffff:127.0.0.1]:" + port + "/client.json",
		"https://[::1]:" + port + "/client.json",
		"https://169.254.169.254/latest/meta-data",
		"https://[::ffff:169.254.169.254]/latest/meta-data",
		"https://10.0.0.1/client.json",
		"https://192.168.1.1/client.json",
		"https://100.100.100.200/client.json",
		"https://[fd00:ec2::254]/client.json",
		"https://0.0.0.0:" + port + "/client.json",
		"https://[64:ff9b::7f00:1]/client.json",
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			_, err := reg.Resolve(t.Context(), id)
			e := wantReason(t, err, CodeInvalidClient, ReasonPrivateAddress)
			var ae *addressError
			if !errors.As(e, &ae) {
				t.Errorf("cause is not the dial check: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := srv.hits.Load(); n != 0 {
			t.Errorf("the server behind loopback got %d requests", n)
		}
	})
	// The same server is reachable when private addresses are allowed, so
	// the refusals above are the address check and nothing else.
	open, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	if _, err := open.Resolve(t.Context(), "https://127.0.0.1:"+port+"/client.json"); err != nil {
		t.Fatalf("with AllowPrivateAddresses: %v", err)
	}
	srv.hits.Store(0)
}

// TestUntrustedTextKeptVerbatim: HTML and script in client_name are
// stored as they came (escaping is the page's job), not altered.
func TestUntrustedTextKeptVerbatim(t *testing.T) {
	t.Parallel()
	names := []string{
		`<script>alert(document.cookie)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`Tom & Jerry's &amp; <b>App</b>`,
		"名前 — ✓",
	}
	var srv *docServer
	handlers := map[string]http.HandlerFunc{}
	for i, n := range names {
		p := fmt.Sprintf("/c%d", i)
		handlers[p] = func(w http.ResponseWriter, r *http.Request) {
			serveJSON(doc(t, srv.URL+p, map[string]any{"client_name": n}))(w, r)
		}
	}
	srv = newDocServer(t, handlers)
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	for i, n := range names {
		c, err := reg.Resolve(t.Context(), fmt.Sprintf("%s/c%d", srv.URL, i))
		if err != nil {
			t.Fatalf("Resolve(%q): %v", n, err)
		}
		if c.Name != n {
			t.Errorf("Name = %q, want %q verbatim", c.Name, n)
		}
	}
	// A bidirectional override could show the user another name: refused.
	srv.handlers["/bidi"] = func(w http.ResponseWriter, r *http.Request) {
		serveJSON(doc(t, srv.URL+"/bidi", map[string]any{"client_name": "Good\u202eliveD"}))(w, r)
	}
	_, err := reg.Resolve(t.Context(), srv.URL+"/bidi")
	wantReason(t, err, CodeInvalidClient, ReasonInvalidMetadata)
}

// TestDocumentRedirectURIMatch: a resolved client's redirect URIs match
// exactly, with the loopback port exception only.
func TestDocumentRedirectURIMatch(t *testing.T) {
	t.Parallel()
	var srv *docServer
	srv = newDocServer(t, map[string]http.HandlerFunc{
		"/c": func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, srv.URL+"/c", nil))(w, r) },
	})
	reg, _ := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})
	c, err := reg.Resolve(t.Context(), srv.URL+"/c")
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{"https://app.example/cb", "http://127.0.0.1:3000/callback", "http://127.0.0.1:49152/callback"} {
		if err := reg.CheckRedirectURI(c, ok); err != nil {
			t.Errorf("CheckRedirectURI(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"https://evil.example/cb", "https://app.example/cb/", "https://app.example/cb?x=1", "http://localhost:3000/callback"} {
		err := reg.CheckRedirectURI(c, bad)
		wantReason(t, err, CodeInvalidRedirectURI, ReasonRedirectURIMismatch)
	}
}

func TestDocumentsDisabledAndBadIDs(t *testing.T) {
	t.Parallel()
	off, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = off.Resolve(t.Context(), "https://app.example/client.json")
	wantReason(t, err, CodeInvalidClient, ReasonDocumentsDisabled)
	if !errors.Is(err, ErrUnknownClient) {
		t.Errorf("errors.Is(ErrUnknownClient) = false: %v", err)
	}

	reg, _ := newDocRegistry(t, nil, Options{})
	for _, id := range []string{
		"http://app.example/client.json",
		"https://app.example",
		"https://app.example/",
		"https://app.example/a/../client.json",
		"https://app.example/./client.json",
		"https://user:pw@app.example/client.json",
		"https://app.example/client.json#frag",
		"https://app.example/client json",
		"https://app.example\\@evil.example/c",
		"https://app.example:99999/c",
		"https:///c",
		"https://app.example/" + strings.Repeat("a", maxURILength),
	} {
		_, err := reg.Resolve(t.Context(), id)
		wantReason(t, err, CodeInvalidClient, ReasonInvalidClientIDURL)
	}
}

func TestDocumentCache(t *testing.T) {
	t.Parallel()
	var srv *docServer
	cacheControl := map[string]string{"/plain": "", "/max-age": "max-age=7200", "/tiny": "max-age=1", "/no-store": "no-store", "/huge-age": "max-age=99999999"}
	handlers := map[string]http.HandlerFunc{}
	for p, cc := range cacheControl {
		handlers[p] = func(w http.ResponseWriter, r *http.Request) {
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			serveJSON(doc(t, srv.URL+p, nil))(w, r)
		}
	}
	handlers["/broken"] = serveJSON(`{"client_id":`)
	srv = newDocServer(t, handlers)
	reg, clk := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true})

	tests := []struct {
		path string
		ttl  time.Duration
	}{
		{"/plain", DefaultCacheTTL},
		{"/max-age", 2 * time.Hour},
		{"/tiny", MinCacheTTL},
		{"/no-store", MinCacheTTL},
		{"/huge-age", MaxCacheTTL},
		{"/broken", DefaultNegativeCacheTTL},
	}
	for _, tc := range tests {
		// Sequential: they share the clock.
		id := srv.URL + tc.path
		resolve := func() {
			t.Helper()
			_, err := reg.Resolve(t.Context(), id)
			if (err != nil) != (tc.path == "/broken") {
				t.Fatalf("%s: Resolve: %v", tc.path, err)
			}
		}
		start := srv.hits.Load()
		resolve()
		clk.Advance(tc.ttl - time.Second)
		resolve()
		if n := srv.hits.Load() - start; n != 1 {
			t.Errorf("%s: %d fetches within the ttl %v, want 1", tc.path, n, tc.ttl)
		}
		clk.Advance(time.Second)
		resolve()
		if n := srv.hits.Load() - start; n != 2 {
			t.Errorf("%s: %d fetches after the ttl %v, want 2", tc.path, n, tc.ttl)
		}
	}

	// A returned client cannot change the cached one.
	c, err := reg.Resolve(t.Context(), srv.URL+"/plain")
	if err != nil {
		t.Fatal(err)
	}
	c.RedirectURIs[0] = "https://evil.example/cb"
	again, _ := reg.Resolve(t.Context(), srv.URL+"/plain")
	if again.RedirectURIs[0] == "https://evil.example/cb" {
		t.Error("changing a returned client changed the cache")
	}
}

func TestDocumentCacheBounded(t *testing.T) {
	t.Parallel()
	var srv *docServer
	srv = newDocServer(t, nil)
	srv.handlers = map[string]http.HandlerFunc{}
	for i := range 10 {
		p := fmt.Sprintf("/c%d", i)
		srv.handlers[p] = func(w http.ResponseWriter, r *http.Request) { serveJSON(doc(t, srv.URL+p, nil))(w, r) }
	}
	reg, clk := newDocRegistry(t, srv, Options{AllowPrivateAddresses: true, MaxCacheEntries: 3})
	for i := range 10 {
		clk.Advance(time.Second)
		if _, err := reg.Resolve(t.Context(), fmt.Sprintf("%s/c%d", srv.URL, i)); err != nil {
			t.Fatal(err)
		}
		if n := reg.cache.len(); n > 3 {
			t.Fatalf("cache holds %d entries, bound 3", n)
		}
	}
	// The newest entries stayed: the last one is served from the cache.
	before := srv.hits.Load()
	if _, err := reg.Resolve(t.Context(), srv.URL+"/c9"); err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != before {
		t.Error("the newest entry was evicted")
	}
}
