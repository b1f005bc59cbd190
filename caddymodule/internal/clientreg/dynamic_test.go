package clientreg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// spyStore records the operations on a store it passes through.
type spyStore struct {
	store.Store
	mu      sync.Mutex
	gets    int
	expires []time.Duration
}

func (s *spyStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.Get(ctx, key)
}

func (s *spyStore) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	s.expires = append(s.expires, ttl)
	s.mu.Unlock()
	return s.Store.Expire(ctx, key, ttl)
}

// dcrBackend is one store the dynamic registration suite runs on.
type dcrBackend struct {
	name  string
	open  func(t *testing.T, clk *fakeclock.Clock) store.Store
	clock bool // expiry follows the fake clock
}

// TestDynamicConformance runs the dynamic registration suite on the
// memory store and on a real redis-server.
func TestDynamicConformance(t *testing.T) {
	t.Parallel()
	backends := []dcrBackend{
		{"memory", func(t *testing.T, clk *fakeclock.Clock) store.Store {
			m, err := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Close() })
			return m
		}, true},
		{"redis", func(t *testing.T, _ *fakeclock.Clock) store.Store {
			// Generous timeouts: a "hung" guard on a loaded machine, not
			// the production tens of milliseconds.
			r, err := store.NewRedis(store.RedisConfig{URL: redistest.SharedStandalone(t).URL(),
				DialTimeout: hung, ReadTimeout: hung, WriteTimeout: hung})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r
		}, false},
	}
	checks := []struct {
		name string
		fn   func(t *testing.T, f *dcrFixture)
	}{
		{"RegisterPublic", testRegisterPublic},
		{"RegisterConfidential", testRegisterConfidential},
		{"SecretHashedAtRest", testSecretHashedAtRest},
		{"LifetimeRefreshedOnUse", testLifetimeRefreshed},
		{"BadMetadata", testBadMetadata},
		{"UnknownClients", testUnknownClients},
		{"UntrustedTextVerbatim", testRegisterUntrustedText},
		{"ConcurrentRegistrations", testConcurrentRegistrations},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, newDCRFixture(t, b))
				})
			}
		})
	}
}

// dcrFixture is a Registry with dynamic registration on one backend.
type dcrFixture struct {
	backend dcrBackend
	clk     *fakeclock.Clock
	store   *spyStore
	reg     *Registry
	prefix  string
}

func newDCRFixture(t *testing.T, b dcrBackend) *dcrFixture {
	clk := fakeclock.New()
	st := &spyStore{Store: b.open(t, clk)}
	prefix := "crtest-" + rand.Text()[:10]
	reg, err := New(Options{
		Store: st, KeyPrefix: prefix, DynamicRegistration: true,
		RegistrationLifetime: time.Hour, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &dcrFixture{backend: b, clk: clk, store: st, reg: reg, prefix: prefix}
}

const publicRequest = `{
	"client_name": "MCP Inspector",
	"redirect_uris": ["http://localhost:6274/oauth/callback", "http://127.0.0.1:33418/"],
	"grant_types": ["authorization_code", "refresh_token"],
	"response_types": ["code"],
	"token_endpoint_auth_method": "none",
	"scope": "mcp:tools",
	"software_id": "ignored-unknown-member"
}`

func testRegisterPublic(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	c, secret, resp, err := f.reg.Register(ctx, []byte(publicRequest))
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if secret != "" {
		t.Errorf("a public client got a secret")
	}
	if c.Kind != KindDynamic || !validDynamicID(c.ID) || !c.IssuedAt.Equal(fakeclock.Start) {
		t.Errorf("client = %+v", c)
	}
	// RFC 7591 §3.2.1: client information plus all registered metadata.
	var got map[string]any
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatalf("response %s: %v", resp, err)
	}
	want := map[string]any{
		"client_id":                  c.ID,
		"client_id_issued_at":        float64(fakeclock.Start.Unix()),
		"client_name":                "MCP Inspector",
		"redirect_uris":              []any{"http://localhost:6274/oauth/callback", "http://127.0.0.1:33418/"},
		"grant_types":                []any{"authorization_code", "refresh_token"},
		"response_types":             []any{"code"},
		"token_endpoint_auth_method": "none",
		"scope":                      "mcp:tools",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("response = %v\nwant       %v", got, want)
	}
	r, err := f.reg.Resolve(ctx, c.ID)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if fmt.Sprint(r) != fmt.Sprint(c) {
		t.Errorf("resolved %+v\nregistered %+v", r, c)
	}
	if err := f.reg.Authenticate(ctx, r, ""); err != nil {
		t.Errorf("Authenticate(public, \"\") = %v", err)
	}
	wantReason(t, f.reg.Authenticate(ctx, r, "anything"), CodeInvalidClient, ReasonInvalidSecret)
	if err := f.reg.CheckRedirectURI(r, "http://127.0.0.1:50000/"); err != nil {
		t.Errorf("loopback port exception: %v", err)
	}
	wantReason(t, f.reg.CheckRedirectURI(r, "http://localhost:6275/oauth/callback"), CodeInvalidRedirectURI, ReasonRedirectURIMismatch)
}

func testRegisterConfidential(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	for _, method := range []string{"", authSecretBasic, authSecretPost} {
		body := `{"redirect_uris":["https://app.example/cb"]`
		if method != "" {
			body += `,"token_endpoint_auth_method":"` + method + `"`
		}
		body += "}"
		c, secret, resp, err := f.reg.Register(ctx, []byte(body))
		if err != nil {
			t.Fatalf("Register(%s): %v", method, err)
		}
		wantMethod := method
		if wantMethod == "" {
			wantMethod = authSecretBasic // RFC 7591 §2 default
		}
		if c.TokenEndpointAuthMethod != wantMethod || len(secret) < 40 {
			t.Fatalf("method %q secret %d chars", c.TokenEndpointAuthMethod, len(secret))
		}
		var got struct {
			Secret    string `json:"client_secret"`
			ExpiresAt *int64 `json:"client_secret_expires_at"`
		}
		if err := json.Unmarshal(resp, &got); err != nil {
			t.Fatal(err)
		}
		if got.Secret != secret || got.ExpiresAt == nil || *got.ExpiresAt != 0 {
			t.Errorf("response %s: secret or client_secret_expires_at missing", resp)
		}
		r, err := f.reg.Resolve(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.reg.Authenticate(ctx, r, secret); err != nil {
			t.Errorf("Authenticate(right secret) = %v", err)
		}
		for _, wrong := range []string{"", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret)} {
			if wrong == secret {
				continue
			}
			wantReason(t, f.reg.Authenticate(ctx, r, wrong), CodeInvalidClient, ReasonInvalidSecret)
		}
		// The stored method decides, not the Client the caller passes.
		forged := r
		forged.TokenEndpointAuthMethod = authNone
		wantReason(t, f.reg.Authenticate(ctx, forged, ""), CodeInvalidClient, ReasonInvalidSecret)
	}
}

func testSecretHashedAtRest(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	c, secret, _, err := f.reg.Register(ctx, []byte(`{"redirect_uris":["https://app.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.store.Store.Get(ctx, store.Key(f.prefix, storeKind, c.ID))
	if err != nil {
		t.Fatalf("reading the raw record: %v", err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the client secret is stored in clear")
	}
	if !bytes.Contains(raw, []byte(hashSecret(secret))) {
		t.Fatalf("record %s holds no hash of the secret", raw)
	}
}

func testLifetimeRefreshed(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	c, _, _, err := f.reg.Register(ctx, []byte(publicRequest))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f.backend.clock {
			f.clk.Advance(50 * time.Minute) // inside the 1h lifetime, each time
		}
		if _, err := f.reg.Resolve(ctx, c.ID); err != nil {
			t.Fatalf("Resolve after use kept it alive: %v", err)
		}
	}
	f.store.mu.Lock()
	expires := append([]time.Duration(nil), f.store.expires...)
	f.store.mu.Unlock()
	if len(expires) != 3 || expires[0] != time.Hour {
		t.Errorf("Expire calls %v, want 3 of 1h", expires)
	}
	if f.backend.clock {
		f.clk.Advance(time.Hour)
		_, err := f.reg.Resolve(ctx, c.ID)
		wantReason(t, err, CodeInvalidClient, ReasonUnknownClient)
	}
}

func testBadMetadata(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	tests := []struct {
		name, body, code string
	}{
		{"empty", ``, CodeInvalidClientMetadata},
		{"not an object", `["https://app.example/cb"]`, CodeInvalidClientMetadata},
		{"not json", `redirect_uris=https://app.example/cb`, CodeInvalidClientMetadata},
		{"duplicate member", `{"redirect_uris":["https://app.example/cb"],"redirect_uris":["https://evil.example/cb"]}`, CodeInvalidClientMetadata},
		{"trailing data", `{"redirect_uris":["https://app.example/cb"]} {}`, CodeInvalidClientMetadata},
		{"no redirect_uris", `{"client_name":"x"}`, CodeInvalidClientMetadata},
		{"empty redirect_uris", `{"redirect_uris":[]}`, CodeInvalidClientMetadata},
		{"redirect_uris not a list", `{"redirect_uris":"https://app.example/cb"}`, CodeInvalidClientMetadata},
		{"http redirect", `{"redirect_uris":["http://app.example/cb"]}`, CodeInvalidRedirectURI},
		{"fragment", `{"redirect_uris":["https://app.example/cb#x"]}`, CodeInvalidRedirectURI},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, CodeInvalidRedirectURI},
		{"relative", `{"redirect_uris":["/cb"]}`, CodeInvalidRedirectURI},
		{"too many redirect_uris", `{"redirect_uris":[` + strings.Repeat(`"https://a.example/cb",`, maxRedirectURIs) + `"https://a.example/cb"]}`, CodeInvalidClientMetadata},
		{"implicit", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, CodeInvalidClientMetadata},
		{"client_credentials", `{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}`, CodeInvalidClientMetadata},
		{"refresh only", `{"redirect_uris":["https://app.example/cb"],"grant_types":["refresh_token"]}`, CodeInvalidClientMetadata},
		{"client_secret_jwt", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_jwt"}`, CodeInvalidClientMetadata},
		{"private_key_jwt", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, CodeInvalidClientMetadata},
		{"bad scope", `{"redirect_uris":["https://app.example/cb"],"scope":"a  b"}`, CodeInvalidClientMetadata},
		{"scope quote", `{"redirect_uris":["https://app.example/cb"],"scope":"a\"b"}`, CodeInvalidClientMetadata},
		{"control in name", `{"redirect_uris":["https://app.example/cb"],"client_name":"a\nb"}`, CodeInvalidClientMetadata},
		{"long name", `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("n", maxNameLength+1) + `"}`, CodeInvalidClientMetadata},
		{"http logo", `{"redirect_uris":["https://app.example/cb"],"logo_uri":"http://app.example/l.png"}`, CodeInvalidClientMetadata},
		{"javascript client_uri", `{"redirect_uris":["https://app.example/cb"],"client_uri":"javascript:alert(1)"}`, CodeInvalidClientMetadata},
		{"name wrong type", `{"redirect_uris":["https://app.example/cb"],"client_name":1}`, CodeInvalidClientMetadata},
		{"too large", `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("x", MaxRegistrationBytes) + `"}`, CodeInvalidClientMetadata},
	}
	for _, tc := range tests {
		c, secret, resp, err := f.reg.Register(ctx, []byte(tc.body))
		if err == nil {
			t.Errorf("%s: registered %+v", tc.name, c)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, err, tc.code)
			continue
		}
		if e.HTTPStatus() != 400 || secret != "" || resp != nil || e.Description == "" {
			t.Errorf("%s: status %d, secret %q, response %q, description %q", tc.name, e.HTTPStatus(), secret, resp, e.Description)
		}
	}
}

func testUnknownClients(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	before := f.store.gets
	for _, id := range []string{"", "gateway", "dcr_", "dcr_" + strings.Repeat("A", 23), "dcr_" + strings.Repeat("*", 24), "pcl:{dcr:x}", "{dcr:x}"} {
		_, err := f.reg.Resolve(ctx, id)
		wantReason(t, err, CodeInvalidClient, ReasonUnknownClient)
		if !errors.Is(err, ErrUnknownClient) {
			t.Errorf("Resolve(%q): not ErrUnknownClient", id)
		}
	}
	if f.store.gets != before {
		t.Error("ids that Register never issues were looked up in the store")
	}
	// Well-formed but never issued.
	_, err := f.reg.Resolve(ctx, idPrefix+randomText(idBytes))
	wantReason(t, err, CodeInvalidClient, ReasonUnknownClient)
	wantReason(t, f.reg.Authenticate(ctx, Client{ID: idPrefix + randomText(idBytes), Kind: KindDynamic, TokenEndpointAuthMethod: authSecretBasic}, "x"),
		CodeInvalidClient, ReasonUnknownClient)
}

func testRegisterUntrustedText(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	name := `<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"`
	body, _ := json.Marshal(map[string]any{"client_name": name, "redirect_uris": []string{"https://app.example/cb"}, "token_endpoint_auth_method": "none"})
	c, _, resp, err := f.reg.Register(ctx, body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.reg.Resolve(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var echoed struct {
		Name string `json:"client_name"`
	}
	if err := json.Unmarshal(resp, &echoed); err != nil {
		t.Fatal(err)
	}
	if c.Name != name || r.Name != name || echoed.Name != name {
		t.Errorf("name altered: registered %q, resolved %q, echoed %q", c.Name, r.Name, echoed.Name)
	}
	// The response is JSON: the markup is escaped there, never raw HTML.
	if bytes.Contains(resp, []byte("<script>")) {
		t.Errorf("response carries raw markup: %s", resp)
	}
}

func testConcurrentRegistrations(t *testing.T, f *dcrFixture) {
	ctx := t.Context()
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, _, _, err := f.reg.Register(ctx, []byte(publicRequest))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := f.reg.Resolve(ctx, c.ID); err != nil {
				t.Error(err)
			}
			ids <- c.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %s issued twice", id)
		}
		seen[id] = true
	}
}

// failingStore fails every operation, as a Redis that is down.
type failingStore struct{ store.Store }

var errDown = errors.New("connection refused")

func (failingStore) Get(context.Context, string) ([]byte, error) { return nil, errDown }
func (failingStore) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, errDown
}

func TestDynamicStoreDown(t *testing.T) {
	t.Parallel()
	reg, err := New(Options{Store: failingStore{}, DynamicRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = reg.Register(t.Context(), []byte(publicRequest))
	e := wantReason(t, err, CodeTemporarilyUnavailable, ReasonStoreUnavailable)
	if !errors.Is(err, ErrUnavailable) || e.HTTPStatus() != 503 || strings.Contains(e.Description, "refused") {
		t.Errorf("store down: %v (status %d)", err, e.HTTPStatus())
	}
	_, err = reg.Resolve(t.Context(), idPrefix+randomText(idBytes))
	wantReason(t, err, CodeTemporarilyUnavailable, ReasonStoreUnavailable)
}

func TestDynamicDisabled(t *testing.T) {
	t.Parallel()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	on, err := New(Options{Store: m, DynamicRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := on.Register(t.Context(), []byte(publicRequest))
	if err != nil {
		t.Fatal(err)
	}
	off, err := New(Options{Store: m})
	if err != nil {
		t.Fatal(err)
	}
	_, _, resp, err := off.Register(t.Context(), []byte(publicRequest))
	e := wantReason(t, err, CodeAccessDenied, ReasonRegistrationDisabled)
	if !errors.Is(err, ErrRegistrationDisabled) || e.HTTPStatus() != 403 || resp != nil {
		t.Errorf("disabled: %v, status %d", err, e.HTTPStatus())
	}
	// Turned off, earlier registrations are not served either.
	_, err = off.Resolve(t.Context(), c.ID)
	wantReason(t, err, CodeInvalidClient, ReasonUnknownClient)

	if _, err := New(Options{DynamicRegistration: true}); err == nil {
		t.Error("New accepted dynamic registration without a store")
	}
}
