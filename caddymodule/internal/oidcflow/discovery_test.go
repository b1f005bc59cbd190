package oidcflow

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func TestNewConfig(t *testing.T) {
	t.Parallel()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	valid := func() Config {
		return Config{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "very-secret-value",
			RedirectURL: testRedirectURL, Keys: [][]byte{testKey()}, Store: st}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{name: "valid"},
		{name: "no issuer", edit: func(c *Config) { c.Issuer = "" }, wantErr: "issuer"},
		{name: "issuer not a URL", edit: func(c *Config) { c.Issuer = "idp.example" }, wantErr: "issuer"},
		{name: "no client id", edit: func(c *Config) { c.ClientID = "" }, wantErr: "client_id"},
		{name: "relative redirect", edit: func(c *Config) { c.RedirectURL = "/.portcullis/callback" }, wantErr: "redirect_url"},
		{name: "bad post logout", edit: func(c *Config) { c.PostLogoutRedirectURL = "/bye" }, wantErr: "post_logout"},
		{name: "no store", edit: func(c *Config) { c.Store = nil }, wantErr: "store"},
		{name: "no keys", edit: func(c *Config) { c.Keys = nil }, wantErr: "keys"},
		{name: "short key", edit: func(c *Config) { c.Keys = [][]byte{[]byte("short")} }, wantErr: "at least"},
		{name: "negative", edit: func(c *Config) { c.FlowTTL = -time.Second }, wantErr: "negative"},
		{name: "bad prefix", edit: func(c *Config) { c.KeyPrefix = "{x}" }, wantErr: "braces"},
		{name: "host prefix without secure", edit: func(c *Config) { c.Cookie.Name, c.Cookie.Insecure = "__Host-x", true }, wantErr: "Secure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			c, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.cfg.Scopes[0] != "openid" || c.cfg.FlowTTL != DefaultFlowTTL {
					t.Fatalf("defaults not applied: %+v", c.cfg.Scopes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "very-secret-value") {
				t.Fatal("the error contains the client secret")
			}
		})
	}
}

// TestDiscoveryLazyWithBackoff: no I/O at construction; a provider that
// is down gives ErrUnavailable and is retried only after the backoff; once
// up, the discovery is cached.
func TestDiscoveryLazyWithBackoff(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.down.Store(true)
	c := newTestClient(t, idp, clk, nil)
	if n := idp.discoveryHits.Load(); n != 0 {
		t.Fatalf("New made %d discovery requests, want none", n)
	}
	ctx := t.Context()
	steps := []struct {
		advance time.Duration
		up      bool
		hits    int64
		wantErr bool
	}{
		{0, false, 1, true},                       // first attempt fails
		{0, false, 1, true},                       // within the 1s backoff: no request
		{time.Second, false, 2, true},             // retried, fails again: backoff 2s
		{time.Second, true, 2, true},              // up, but still backing off
		{time.Second, true, 3, false},             // retried: works
		{time.Hour, false, 3, false},              // cached, even if the provider went down
		{DefaultMaxBackoff * 10, false, 3, false}, // still cached
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		idp.down.Store(!s.up)
		_, err := c.StartLogin(ctx, LoginOptions{})
		if (err != nil) != s.wantErr || (err != nil && !errors.Is(err, ErrUnavailable)) {
			t.Fatalf("step %d: StartLogin error = %v, want error %v (ErrUnavailable)", i, err, s.wantErr)
		}
		if n := idp.discoveryHits.Load(); n != s.hits {
			t.Fatalf("step %d: %d discovery requests, want %d", i, n, s.hits)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {7, time.Minute}, {100, time.Minute}}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			t.Parallel()
			if got := backoff(tt.n, time.Second, time.Minute); got != tt.want {
				t.Fatalf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestDiscoveryShared(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Ready(t.Context()); err != nil {
				t.Errorf("Ready: %v", err)
			}
		})
	}
	wg.Wait()
	if n := idp.discoveryHits.Load(); n != 1 {
		t.Fatalf("%d discovery requests for 20 concurrent callers, want 1", n)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Issuer = idp.issuer() + "/" })
	err := c.Ready(t.Context())
	if !errors.Is(err, ErrMisconfigured) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "issuer mismatch") ||
		!strings.Contains(err.Error(), "trailing slash") || Reason(err) != ReasonMisconfigured {
		t.Fatalf("Ready = %v, want a misconfiguration naming the issuer mismatch and the trailing slash", err)
	}
}

func TestDiscoveryUnreachable(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	issuer := idp.issuer()
	idp.srv.Close()
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Issuer = issuer; cfg.DiscoveryTimeout = time.Second })
	if err := c.Ready(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready = %v, want ErrUnavailable", err)
	}
}

func TestAuthStyle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secret  string
		methods []string
		want    oauth2.AuthStyle
	}{
		{name: "public client", want: oauth2.AuthStyleInParams},
		{name: "default basic", secret: "s", want: oauth2.AuthStyleInHeader},
		{name: "basic listed", secret: "s", methods: []string{"client_secret_post", "client_secret_basic"}, want: oauth2.AuthStyleInHeader},
		{name: "post only", secret: "s", methods: []string{"client_secret_post"}, want: oauth2.AuthStyleInParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := authStyle(tt.secret, tt.methods); got != tt.want {
				t.Fatalf("authStyle = %v, want %v", got, tt.want)
			}
		})
	}
}
