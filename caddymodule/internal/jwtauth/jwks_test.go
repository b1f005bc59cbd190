package jwtauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	t.Run("issuer mismatch", func(t *testing.T) {
		t.Parallel()
		idp := newFakeIdP(t, k1.jwk(true, true))
		idp.discIss = "https://impostor.example.com"
		clock := newFakeClock()
		v := newTestVerifier(t, idp, clock)
		_, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
		assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
		if idp.fetches.Load() != 0 {
			t.Fatal("JWKS fetched despite the discovery issuer mismatch")
		}
	})
	t.Run("explicit discovery url", func(t *testing.T) {
		t.Parallel()
		idp := newFakeIdP(t, k1.jwk(true, true))
		clock := newFakeClock()
		v := newTestVerifier(t, idp, clock, func(o *Options) {
			o.Issuers[0].DiscoveryURL = idp.issuer() + "/.well-known/openid-configuration"
		})
		if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("explicit jwks url skips discovery", func(t *testing.T) {
		t.Parallel()
		idp := newFakeIdP(t, k1.jwk(true, true))
		clock := newFakeClock()
		v := newTestVerifier(t, idp, clock, func(o *Options) { o.Issuers[0].JWKSURL = idp.issuer() + "/keys" })
		if _, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil)); err != nil {
			t.Fatal(err)
		}
		if idp.discovery.Load() != 0 {
			t.Fatal("discovery fetched although jwks_url is set")
		}
	})
}

func TestKeySetParsing(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	small, err := jose.JSONWebKey{Key: es.key.Public(), KeyID: "es"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		keys int
		fail bool
	}{
		{name: "one key", body: `{"keys":[` + string(small) + `]}`, keys: 1},
		{name: "odd keys skipped", body: `{"keys":[{"kty":"X25519","x":"abc"},{"kty":"oct","k":"c2VjcmV0"},` + string(small) + `,{"kty":"EC","use":"enc","crv":"P-256"}]}`, keys: 1},
		{name: "encryption key skipped", body: `{"keys":[` + strings.Replace(string(small), `{`, `{"use":"enc",`, 1) + `]}`, fail: true},
		{name: "no usable key", body: `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, fail: true},
		{name: "empty", body: `{"keys":[]}`, fail: true},
		{name: "not json", body: `<html>`, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := parseKeySet([]byte(tt.body))
			if (err != nil) != tt.fail || len(keys) != tt.keys {
				t.Fatalf("parseKeySet = %d keys, %v", len(keys), err)
			}
		})
	}
}

func TestFetchLimits(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t)
	idp.rawJWKS = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
	clock := newFakeClock()
	var events []FetchEvent
	var mu sync.Mutex
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.MaxResponseBytes = 16 << 10
		o.OnFetch = func(e FetchEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
	})
	_, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	if !strings.Contains(err.Error(), "larger than 16384 bytes") {
		t.Fatalf("error %q does not name the size limit", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Kind != "discovery" || !events[0].OK || events[1].Kind != "jwks" || events[1].OK || events[1].Err == nil || events[1].Status != http.StatusOK {
		t.Fatalf("fetch events = %+v", events)
	}
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	gate := idp.hold()
	defer idp.release(gate)
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) { o.FetchTimeout = 50 * time.Millisecond })
	start := time.Now()
	_, err := v.Verify(context.Background(), mint(t, k1, claimsAt(idp.issuer(), clock.Now()), nil))
	assertFailure(t, err, ErrUnavailable, ReasonKeysUnavailable, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	// The provider never answers: only the 50 ms fetch timeout ends the
	// call, so a bound meaning "hung" proves it on a busy machine too.
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("Verify took %v with a 50 ms fetch timeout", d)
	}
}

func TestOnFetchEvents(t *testing.T) {
	t.Parallel()
	k1 := newECKey(t, "k1")
	idp := newFakeIdP(t, k1.jwk(true, true))
	clock := newFakeClock()
	var mu sync.Mutex
	var events []FetchEvent
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.OnFetch = func(e FetchEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
	})
	if err := v.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("events = %+v, want discovery then jwks", events)
	}
	for i, kind := range []string{"discovery", "jwks"} {
		e := events[i]
		if e.Kind != kind || !e.OK || e.Issuer != idp.issuer() || e.Status != 200 || e.Err != nil || e.Duration <= 0 {
			t.Fatalf("event %d = %+v", i, e)
		}
	}
	if events[1].Keys != 1 {
		t.Fatalf("jwks event keys = %d, want 1", events[1].Keys)
	}
}

func TestCacheMaxAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   time.Duration
		ok     bool
	}{
		{name: "none"},
		{name: "max-age", values: []string{"public, max-age=600"}, want: 10 * time.Minute, ok: true},
		{name: "quoted", values: []string{`max-age="60"`}, want: time.Minute, ok: true},
		{name: "no-store wins", values: []string{"max-age=600", "no-store"}, want: 0, ok: true},
		{name: "garbage ignored", values: []string{"max-age=abc, max-age=-1"}},
		{name: "first max-age", values: []string{"max-age=60, max-age=120"}, want: time.Minute, ok: true},
		{name: "capped", values: []string{"max-age=99999999999999"}, want: 365 * 24 * time.Hour, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Cache-Control", v)
			}
			got, ok := cacheMaxAge(h)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("cacheMaxAge = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
