package jwtauth

import (
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{Issuer: "https://idp.example.com", Audiences: []string{"api"}}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	secret32 := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // "" = valid
	}{
		{name: "minimal", mutate: func(*Config) {}},
		{name: "no issuer", mutate: func(c *Config) { c.Issuer = "" }, wantErr: "issuer is required"},
		{name: "no audience", mutate: func(c *Config) { c.Audiences = nil }, wantErr: "at least one audience"},
		{name: "empty audience", mutate: func(c *Config) { c.Audiences = []string{""} }, wantErr: "empty audience"},
		{name: "alg none", mutate: func(c *Config) { c.Algorithms = []string{"RS256", "none"} }, wantErr: "none is never accepted"},
		{name: "alg NONE", mutate: func(c *Config) { c.Algorithms = []string{"NONE"} }, wantErr: "none is never accepted"},
		{name: "unknown alg", mutate: func(c *Config) { c.Algorithms = []string{"rs256"} }, wantErr: "unknown algorithm"},
		{name: "HS256 without secret", mutate: func(c *Config) { c.Algorithms = []string{"RS256", "HS256"} }, wantErr: "needs a shared secret"},
		{name: "HS256 short secret", mutate: func(c *Config) { c.SharedSecret = []byte("short") }, wantErr: "at least 32 bytes"},
		{name: "HS512 with 32-byte secret", mutate: func(c *Config) { c.SharedSecret = secret32; c.Algorithms = []string{"HS512"} }, wantErr: "at least 64 bytes"},
		{name: "secret without HS alg", mutate: func(c *Config) { c.SharedSecret = secret32; c.Algorithms = []string{"RS256"} }, wantErr: "no HS256/HS384/HS512"},
		{name: "secret only, issuer not a URL", mutate: func(c *Config) { c.Issuer = "svc"; c.SharedSecret = secret32 }},
		{name: "issuer not a URL without jwks url", mutate: func(c *Config) { c.Issuer = "svc" }, wantErr: "discovery url"},
		{name: "issuer not a URL with jwks url", mutate: func(c *Config) { c.Issuer = "svc"; c.JWKSURL = "https://idp/keys" }},
		{name: "bad jwks url", mutate: func(c *Config) { c.JWKSURL = "ftp://idp/keys" }, wantErr: "jwks url"},
		{name: "relative discovery url", mutate: func(c *Config) { c.DiscoveryURL = "/.well-known/openid-configuration" }, wantErr: "discovery url"},
		{name: "empty group claim", mutate: func(c *Config) { c.GroupClaims = []string{"groups", ""} }, wantErr: "empty group claim"},
		{name: "empty required claim", mutate: func(c *Config) { c.RequiredClaims = map[string]any{"": true} }, wantErr: "empty required claim"},
		{name: "unencodable required claim", mutate: func(c *Config) { c.RequiredClaims = map[string]any{"x": func() {}} }, wantErr: "required claim \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name      string
		c         Config
		algs      []string
		discovery string
	}{
		{name: "jwks issuer", c: Config{Issuer: "https://idp.example.com/"}, algs: DefaultAlgorithms(), discovery: "https://idp.example.com/.well-known/openid-configuration"},
		{name: "secret only", c: Config{Issuer: "svc", SharedSecret: secret}, algs: []string{"HS256"}},
		{name: "secret and jwks", c: Config{Issuer: "svc", SharedSecret: secret, JWKSURL: "https://idp/keys"}, algs: append(DefaultAlgorithms(), "HS256")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.c.withDefaults()
			if !slices.Equal(d.Algorithms, tt.algs) || d.DiscoveryURL != tt.discovery || d.skew() != DefaultClockSkew || !slices.Equal(d.GroupClaims, []string{"groups"}) {
				t.Fatalf("defaults = %+v", d)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{name: "valid", o: Options{Issuers: []Config{validConfig()}}},
		{name: "no issuers", o: Options{}, wantErr: "at least one issuer"},
		{name: "duplicate issuer", o: Options{Issuers: []Config{validConfig(), validConfig()}}, wantErr: "configured twice"},
		{name: "bad issuer", o: Options{Issuers: []Config{{Issuer: "x"}}}, wantErr: "audience"},
		{name: "negative timeout", o: Options{Issuers: []Config{validConfig()}, FetchTimeout: -1}, wantErr: "fetch timeout"},
		{name: "negative clock skew", o: Options{Issuers: []Config{func() Config { c := validConfig(); c.ClockSkew = new(-time.Second); return c }()}}, wantErr: "clock skew must not be negative"},
		{name: "zero clock skew", o: Options{Issuers: []Config{func() Config { c := validConfig(); c.ClockSkew = new(time.Duration(0)); return c }()}}},
		{name: "min above max refresh", o: Options{Issuers: []Config{validConfig()}, MinRefreshInterval: 2 * time.Hour, MaxRefreshInterval: time.Hour}, wantErr: "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			if _, nerr := New(tt.o); (nerr == nil) != (tt.wantErr == "") {
				t.Fatalf("New error %v disagrees with Validate", nerr)
			}
		})
	}
}

func TestConfigFingerprint(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", 32))
	base := func() Config {
		return Config{
			Issuer: "https://idp.example.com", Audiences: []string{"api"}, SharedSecret: secret,
			JWKSURL: "https://idp.example.com/keys", RequiredClaims: map[string]any{"email_verified": true},
		}
	}
	fp := base().Fingerprint()
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q is not 64 hex digits", fp)
	}
	if strings.Contains(fp, hex.EncodeToString(secret)) {
		t.Fatal("fingerprint contains the secret")
	}
	if base().Fingerprint() != fp {
		t.Fatal("fingerprint is not stable")
	}
	same := base()
	same.ClockSkew = new(DefaultClockSkew)
	same.GroupClaims = []string{"groups"}
	same.RequiredClaims = map[string]any{"email_verified": true}
	if same.Fingerprint() != fp {
		t.Fatal("explicit defaults change the fingerprint")
	}
	changes := []struct {
		name   string
		mutate func(*Config)
	}{
		{name: "issuer", mutate: func(c *Config) { c.Issuer += "/" }},
		{name: "discovery url", mutate: func(c *Config) { c.DiscoveryURL = "https://idp.example.com/d" }},
		{name: "jwks url", mutate: func(c *Config) { c.JWKSURL += "2" }},
		{name: "audience", mutate: func(c *Config) { c.Audiences = []string{"api", "b"} }},
		{name: "algorithms", mutate: func(c *Config) { c.Algorithms = []string{"HS256"} }},
		{name: "secret", mutate: func(c *Config) { c.SharedSecret = []byte(strings.Repeat("t", 32)) }},
		{name: "skew", mutate: func(c *Config) { c.ClockSkew = new(time.Second) }},
		{name: "no skew", mutate: func(c *Config) { c.ClockSkew = new(time.Duration(0)) }},
		{name: "required claim value", mutate: func(c *Config) { c.RequiredClaims = map[string]any{"email_verified": false} }},
		{name: "required claim presence", mutate: func(c *Config) { c.RequiredClaims = map[string]any{"email_verified": nil} }},
		{name: "typ", mutate: func(c *Config) { c.RequireAccessTokenType = true }},
		{name: "group claims", mutate: func(c *Config) { c.GroupClaims = []string{"groups", "roles"} }},
	}
	seen := map[string]string{fp: "base"}
	for _, ch := range changes {
		c := base()
		ch.mutate(&c)
		got := c.Fingerprint()
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the fingerprint of %s", ch.name, prev)
		}
		seen[got] = ch.name
	}
}

func TestOptionsFingerprint(t *testing.T) {
	t.Parallel()
	base := func() Options { return Options{Issuers: []Config{validConfig()}} }
	fp := base().Fingerprint()
	same := base()
	same.CacheSize = DefaultCacheSize
	same.FetchTimeout = DefaultFetchTimeout
	if same.Fingerprint() != fp {
		t.Fatal("explicit defaults change the fingerprint")
	}
	changes := []func(*Options){
		func(o *Options) { o.Issuers[0].Audiences = []string{"other"} },
		func(o *Options) { o.Issuers = append(o.Issuers, Config{Issuer: "https://b", Audiences: []string{"a"}}) },
		func(o *Options) { o.HTTPClient = &http.Client{} },
		func(o *Options) { o.Now = time.Now },
		func(o *Options) { o.After = time.After },
		func(o *Options) { o.OnFetch = func(FetchEvent) {} },
		func(o *Options) { o.FetchTimeout = time.Second },
		func(o *Options) { o.MaxResponseBytes = 1 },
		func(o *Options) { o.RefreshInterval = time.Hour },
		func(o *Options) { o.MinRefreshInterval = 2 * time.Minute },
		func(o *Options) { o.MaxRefreshInterval = time.Hour },
		func(o *Options) { o.UnknownKeyCooldown = time.Minute },
		func(o *Options) { o.MaxTokenBytes = 100 },
		func(o *Options) { o.CacheSize = -1 },
	}
	seen := map[string]int{fp: -1}
	for i, m := range changes {
		o := base()
		m(&o)
		got := o.Fingerprint()
		if prev, dup := seen[got]; dup {
			t.Errorf("change %d gives the fingerprint of change %d", i, prev)
		}
		seen[got] = i
	}
}
