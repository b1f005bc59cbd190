package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const testDay = 24 * time.Hour

// expiryFixture is an app with three static keys (expiring in 10 days,
// in 30 days, never) under warn_before 14d, with an observed audit log
// and a fixed clock for the warnings.
type expiryFixture struct {
	h                  *Handler
	soon, later, never string
	soonExpiry         time.Time
	audit              *observer.ObservedLogs
	reg                *prometheus.Registry
	now                time.Time
}

func newExpiryFixture(t *testing.T, maxLifetime time.Duration, rotationDoc string, require ...string) *expiryFixture {
	t.Helper()
	// Keys expire relative to the real clock only because static keys
	// are checked against it when verified; the warnings use f.now.
	now := time.Now().UTC().Truncate(time.Second)
	f := &expiryFixture{now: now, soonExpiry: now.Add(10 * testDay)}
	h := apikey.NewHasher(nil)
	var keys []APIKeyConfig
	for i, exp := range []time.Time{f.soonExpiry, now.Add(30 * testDay), {}} {
		k, err := apikey.Generate("pcl")
		if err != nil {
			t.Fatal(err)
		}
		kc := APIKeyConfig{ID: k.ID, Hash: h.Hash(k.String()), Subject: fmt.Sprintf("bot-%d", i), Scopes: []string{"orders:read"}}
		if !exp.IsZero() {
			kc.Expires = exp.Format(time.RFC3339)
		}
		keys = append(keys, kc)
		switch i {
		case 0:
			f.soon = k.String()
		case 1:
			f.later = k.String()
		default:
			f.never = k.String()
		}
	}
	app := &App{APIKeys: &APIKeysConfig{Keys: keys, WarnBefore: caddyDuration(14 * testDay), MaxLifetime: caddyDuration(maxLifetime), RotationDoc: rotationDoc}}
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	f.reg = prometheus.NewRegistry()
	m, err := newMetrics(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	app.metrics, app.audit, f.audit = m, zap.New(core), logs
	app.expiry.now = func() time.Time { return f.now }
	app.expiry.warner = apikey.NewWarner(0)
	m.keyExpiry.now = app.expiry.now
	m.keyExpiry.watch(app.APIKeys.lifetime(), app.keys, nil, nil)
	if app.registry, err = apikey.NewRegistry(apikey.RegistryOptions{Static: app.keys, Hasher: app.hasher, Prefix: app.keys.Prefix()}); err != nil {
		t.Fatal(err)
	}
	hd := Handler{}
	for _, s := range require {
		hd.Require = append(hd.Require, RequireConfig{Scopes: []string{s}})
	}
	if err := hd.setup(app); err != nil {
		t.Fatal(err)
	}
	if err := hd.Validate(); err != nil {
		t.Fatal(err)
	}
	f.h = &hd
	return f
}

func caddyDuration(d time.Duration) caddy.Duration { return caddy.Duration(d) }

func TestExpiryWarningHeaders(t *testing.T) {
	t.Parallel()
	f := newExpiryFixture(t, 0, "https://docs.example.com/rotate-keys")
	tests := []struct {
		name string
		key  string
		warn bool
	}{
		{"inside the window", f.soon, true},
		{"outside the window", f.later, false},
		{"never expires", f.never, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, up := serve(t, f.h, "GET", map[string][]string{"Authorization": {"Bearer " + tt.key}})
			if w.Code != http.StatusOK || !up.called {
				t.Fatalf("status %d", w.Code)
			}
			dep, sun, link := w.Header().Get("Deprecation"), w.Header().Get("Sunset"), w.Header().Get("Link")
			if !tt.warn {
				if dep != "" || sun != "" || link != "" {
					t.Fatalf("warning headers on a key outside its window: %q %q %q", dep, sun, link)
				}
				return
			}
			if want := fmt.Sprintf("@%d", f.soonExpiry.Add(-14*testDay).Unix()); dep != want {
				t.Errorf("Deprecation = %q, want %q", dep, want)
			}
			if want := f.soonExpiry.Format(http.TimeFormat); sun != want {
				t.Errorf("Sunset = %q, want %q", sun, want)
			}
			if want := `<https://docs.example.com/rotate-keys>; rel="deprecation"; type="text/html"`; link != want {
				t.Errorf("Link = %q, want %q", link, want)
			}
		})
	}
}

func TestExpiryWarningOnRefusedAnswer(t *testing.T) {
	t.Parallel()
	f := newExpiryFixture(t, 0, "", "orders:write")
	w, up := serve(t, f.h, "GET", map[string][]string{"Authorization": {"Bearer " + f.soon}})
	if w.Code != http.StatusForbidden || up.called {
		t.Fatalf("status %d, want 403", w.Code)
	}
	if w.Header().Get("Deprecation") == "" || w.Header().Get("Sunset") == "" {
		t.Fatalf("a refused answer to an expiring key lacks the warning: %v", w.Header())
	}
	if w.Header().Get("Link") != "" {
		t.Fatalf("Link without a rotation_doc: %q", w.Header().Get("Link"))
	}
}

func TestExpiryAuditOncePerDay(t *testing.T) {
	t.Parallel()
	f := newExpiryFixture(t, 0, "")
	for range 3 {
		serve(t, f.h, "GET", map[string][]string{"Authorization": {"Bearer " + f.soon}})
		serve(t, f.h, "GET", map[string][]string{"Authorization": {"Bearer " + f.later}})
	}
	events := f.audit.FilterMessage(string(kindAPIKeyExpiring)).All()
	if len(events) != 1 {
		t.Fatalf("%d api_key_expiring events after three requests, want 1", len(events))
	}
	fields := events[0].ContextMap()
	if fields["days_left"] != int64(10) || fields["reason"] != apikey.BucketInWarning || fields["subject"] != "bot-0" {
		t.Fatalf("event fields %v", fields)
	}
	for k, v := range fields {
		if s, ok := v.(string); ok && strings.Contains(f.soon, s) && len(s) > 20 {
			t.Fatalf("event field %s holds the key", k)
		}
	}
	f.now = f.now.Add(testDay) // the next UTC day
	serve(t, f.h, "GET", map[string][]string{"Authorization": {"Bearer " + f.soon}})
	if n := len(f.audit.FilterMessage(string(kindAPIKeyExpiring)).All()); n != 2 {
		t.Fatalf("%d api_key_expiring events a day later, want 2", n)
	}
}

func TestKeyExpiryGauge(t *testing.T) {
	t.Parallel()
	f := newExpiryFixture(t, 0, "")
	want := `
# HELP portcullis_api_keys API keys (static and stored) by expiry bucket: expired, lt_1d, lt_7d, warning (inside warn_before), ok, never.
# TYPE portcullis_api_keys gauge
portcullis_api_keys{expiry="expired"} 0
portcullis_api_keys{expiry="lt_1d"} 0
portcullis_api_keys{expiry="lt_7d"} 0
portcullis_api_keys{expiry="never"} 1
portcullis_api_keys{expiry="ok"} 1
portcullis_api_keys{expiry="warning"} 1
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "portcullis_api_keys"); err != nil {
		t.Fatal(err)
	}
}

func TestStaticKeyLifetimeRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	h := apikey.NewHasher(nil)
	k, err := apikey.Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	base := APIKeyConfig{ID: k.ID, Hash: h.Hash(k.String()), Subject: "s"}
	tests := []struct {
		name    string
		expires string
		ok      bool
	}{
		{"within", now.Add(90 * testDay).Format(time.RFC3339), true},
		{"beyond", now.Add(91 * testDay).Format(time.RFC3339), false},
		{"never", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kc := base
			kc.Expires = tt.expires
			cfg := APIKeysConfig{Keys: []APIKeyConfig{kc}, MaxLifetime: caddyDuration(90 * testDay)}
			_, err := cfg.expiryWarnings(now)
			if (err == nil) != tt.ok {
				t.Fatalf("expiryWarnings = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestCheckRotationDoc(t *testing.T) {
	t.Parallel()
	for doc, ok := range map[string]bool{
		"https://docs.example.com/keys": true, "http://intranet.example/keys": true,
		"docs.example.com/keys": false, "ftp://x.example/": false, "https://x.example/a>b": false, "https://x.example/\r\nX: y": false,
	} {
		if err := checkRotationDoc(doc); (err == nil) != ok {
			t.Errorf("checkRotationDoc(%q) = %v, want ok %v", doc, err, ok)
		}
	}
}

func TestExpiryStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	p := apikey.LifetimePolicy{MaxLifetime: 90 * testDay, WarnBefore: 14 * testDay}
	tests := []struct {
		rec  apikey.Record
		want string
	}{
		{apikey.Record{Expires: now.Add(3 * testDay)}, "active, expiring (3d left)"},
		{apikey.Record{Expires: now.Add(time.Hour)}, "active, expiring (<1d left)"},
		{apikey.Record{Expires: now.Add(30 * testDay)}, "active"},
		{apikey.Record{Expires: now.Add(3 * testDay), Revoked: true}, "revoked"},
		{apikey.Record{}, "active"},
	}
	for _, tt := range tests {
		if got := expiryStatus(tt.rec, now, p); got != tt.want {
			t.Errorf("expiryStatus(%v) = %q, want %q", tt.rec.Expires, got, tt.want)
		}
	}
}

func TestCLICreateAndListHonourLifetime(t *testing.T) {
	t.Parallel()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	reg, err := apikey.NewRegistry(apikey.RegistryOptions{Store: mem, Hasher: apikey.NewHasher(nil), FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	o := storeCLIOptions{subject: "ci", lifetime: apikey.LifetimePolicy{MaxLifetime: 90 * testDay, WarnBefore: 14 * testDay}}
	ctx := t.Context()
	for _, exp := range []string{"91d", "never", "2999-01-01T00:00:00Z"} {
		o.expires = exp
		var out strings.Builder
		err := runAPIKeyCreate(ctx, reg, o, nil, &out)
		if !errors.Is(err, apikey.ErrLifetime) || !strings.Contains(err.Error(), "--expires "+exp) {
			t.Fatalf("create --expires %s = %v, want a max_lifetime refusal", exp, err)
		}
		if out.Len() != 0 {
			t.Fatalf("a refused create printed %q", out.String())
		}
	}
	for _, exp := range []string{"10d", "60d"} {
		o.expires = exp
		if err := runAPIKeyCreate(ctx, reg, o, nil, io.Discard); err != nil {
			t.Fatalf("create --expires %s: %v", exp, err)
		}
	}
	var out strings.Builder
	if err := runAPIKeyList(ctx, reg, o, nil, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "expiring ("); n != 1 {
		t.Fatalf("list marks %d keys expiring, want 1:\n%s", n, out.String())
	}
}
