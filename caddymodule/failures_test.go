package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/lockout"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
)

// withFailures gives h's app a failure guard on a private memory store
// with clock, as acquireFailures would for cfg.
func withFailures(t *testing.T, h *Handler, cfg *FailuresConfig, clock *fakeclock.Clock) {
	t.Helper()
	p, err := cfg.policy()
	if err != nil {
		t.Fatal(err)
	}
	g, err := lockout.NewGuard(lockout.GuardOptions{Policy: p, Store: lockout.NewMemory(lockout.MemoryOptions{}), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.app.failures = &failureGuard{g: g, tokens: cfg != nil}
}

// TestFailuresLockout: with a failures block, bad bearer tokens and
// wrong keys count alike; the failure that locks the address out writes
// a lockout_started event; a locked-out address gets 429 with
// Retry-After and a request id whatever it presents (reason
// api_key_throttled or token_throttled); progressive lockouts double.
func TestFailuresLockout(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	clock := fakeclock.New()
	withFailures(t, h, &FailuresConfig{Limit: "3/1m", Lockout: caddy.Duration(2 * time.Second), Progressive: true}, clock)
	logs := observe(h)
	bearer := func(v string) map[string][]string { return map[string][]string{"Authorization": {"Bearer " + v}} }
	for i := range 3 {
		if w, _ := serve(t, h, "GET", bearer("not.a.jwt")); w.Code != 401 {
			t.Fatalf("bad token %d: %d, want 401", i+1, w.Code)
		}
	}
	w, up := serve(t, h, "GET", bearer(k.key))
	if w.Code != 429 || up.called || w.Header().Get("Retry-After") != "2" || !strings.Contains(w.Body.String(), `"request_id"`) {
		t.Fatalf("a valid key from the locked-out address: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w, _ := serve(t, h, "GET", bearer("not.a.jwt")); w.Code != 429 {
		t.Fatalf("a token from the locked-out address: %d", w.Code)
	}
	var events []string
	for _, e := range logs.All() {
		m := e.ContextMap()
		events = append(events, m["event"].(string)+":"+m["reason"].(string))
	}
	want := "decision:invalid_credentials decision:invalid_credentials lockout_started:token_throttled decision:invalid_credentials " +
		"decision:api_key_throttled decision:token_throttled"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("audit events\n  %s\nwant\n  %s", got, want)
	}
	clock.Advance(2 * time.Second)
	if w, _ := serve(t, h, "GET", bearer(k.key)); w.Code != 200 {
		t.Fatalf("after the lockout: %d", w.Code)
	}
	wrong := bearer(wrongLastChar(k.key))
	for i := range 3 {
		if w, _ := serve(t, h, "GET", wrong); w.Code != 401 {
			t.Fatalf("wrong key %d: %d", i+1, w.Code)
		}
	}
	if w, _ := serve(t, h, "GET", bearer(k.key)); w.Code != 429 || w.Header().Get("Retry-After") != "4" {
		t.Fatalf("second lockout: %d, Retry-After %q, want 429 and 4 (twice the first)", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestFailuresDefault: without a failures block, only wrong keys count
// (20 a minute, then a minute), as before.
func TestFailuresDefault(t *testing.T) {
	t.Parallel()
	h, k := newTestHandler(t, Handler{})
	clock := fakeclock.New()
	withFailures(t, h, nil, clock)
	for i := range 40 {
		if w, _ := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer not.a.jwt"}}); w.Code != 401 {
			t.Fatalf("bad token %d: %d (tokens are not counted by default)", i+1, w.Code)
		}
	}
	wrong := map[string][]string{"Authorization": {"Bearer " + wrongLastChar(k.key)}}
	for i := range 20 {
		if w, _ := serve(t, h, "GET", wrong); w.Code != 401 {
			t.Fatalf("wrong key %d: %d", i+1, w.Code)
		}
	}
	w, _ := serve(t, h, "GET", wrong)
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("21st wrong key: %d, Retry-After %q; want 429 and 60", w.Code, w.Header().Get("Retry-After"))
	}
	if w, _ := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer not.a.jwt"}}); w.Code != 401 {
		t.Fatalf("a token from the address: %d (tokens are not locked out by default)", w.Code)
	}
}

// TestFailuresCounted: which refusals count.
func TestFailuresCounted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		key    bool
		reason string
		want   bool
	}{
		{"unknown key", true, "invalid_credentials", true},
		{"malformed key", true, "malformed_credentials", true},
		{"expired key", true, "expired", false},
		{"revoked key", true, "revoked", false},
		{"key store down", true, "unavailable", false},
		{"forged token", false, "bad_signature", true},
		{"alg none", false, "alg_none", true},
		{"unknown kid", false, "unknown_key", true},
		{"untrusted issuer", false, "untrusted_issuer", true},
		{"garbage token", false, "malformed", true},
		{"expired token", false, "expired", false},
		{"wrong audience", false, "bad_audience", false},
		{"keys unavailable", false, "keys_unavailable", false},
		{"method not accepted", false, "method_not_accepted", false},
	} {
		kind := credentialKind(tt.key)
		if got := countsAsFailure(kind, policyReason(tt.reason)); got != tt.want {
			t.Errorf("%s: counts = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFailuresCaddyfile: the block reads into the JSON fields; mistakes
// are reported at their line.
func TestFailuresCaddyfile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in string
		want     FailuresConfig
		err      string
	}{
		{name: "full", in: "failures {\n limit 10/30s\n lockout 2s\n progressive max 1m\n shared\n}",
			want: FailuresConfig{Limit: "10/30s", Lockout: caddy.Duration(2 * time.Second), Progressive: true, MaxLockout: caddy.Duration(time.Minute), Shared: true}},
		{name: "progressive, default cap", in: "failures {\n progressive\n}", want: FailuresConfig{Progressive: true}},
		{name: "bad limit", in: "failures {\n lockout 1m\n limit 20-per-minute\n}", err: "Testfile:4"},
		{name: "short lockout", in: "failures {\n lockout 10ms\n}", err: "at least 1s, at Testfile:3"},
		{name: "cap below lockout", in: "failures {\n lockout 1h\n progressive max 1m\n}", err: "shorter than the lockout"},
		{name: "unknown", in: "failures {\n lock 1m\n}", err: `unrecognized failures subdirective "lock"`},
		{name: "argument", in: "failures 20/1m", err: "takes a block"},
		{name: "progressive typo", in: "failures {\n progressive cap 1h\n}", err: `not "cap"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a App
			err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("portcullis {\n" + tt.in + "\n}"))
			var c FailuresConfig
			if a.Failures != nil {
				c = *a.Failures
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || c != tt.want {
				t.Fatalf("got %+v, %v; want %+v", c, err, tt.want)
			}
		})
	}
}

// TestAcquireFailures: the policy comes from the block, counters are
// pooled per process (or per shared store) and released on Cleanup.
func TestAcquireFailures(t *testing.T) {
	t.Parallel()
	a := &App{Failures: &FailuresConfig{Limit: "5/10s", Lockout: caddy.Duration(3 * time.Second)}}
	st, sk, err := acquireStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	a.store, a.storeKey = st, sk
	t.Cleanup(func() { _, _ = storePool.Delete(sk) })
	if err := a.acquireFailures(); err != nil {
		t.Fatal(err)
	}
	if p := a.failures.g.Policy(); p.Limit != 5 || p.Window != 10*time.Second || p.Lockout != 3*time.Second || !a.failures.tokens || a.lockoutKey != "lockout:local" {
		t.Fatalf("policy %+v, tokens %v, pool key %q", p, a.failures.tokens, a.lockoutKey)
	}
	a.releaseFailures()
	if a.failures != nil || a.lockoutKey != "" {
		t.Fatal("not released")
	}
	bad := &App{Failures: &FailuresConfig{MaxLockout: caddy.Duration(time.Hour)}, store: st, storeKey: sk}
	if err := bad.acquireFailures(); err == nil || !strings.Contains(err.Error(), "progressive") {
		t.Fatalf("max_lockout without progressive: %v", err)
	}
}

// credentialKind is the kind of a key (true) or a bearer token.
func credentialKind(key bool) credential.Kind {
	if key {
		return credential.APIKey
	}
	return credential.Bearer
}

func policyReason(s string) policy.Reason { return policy.Reason(s) }
