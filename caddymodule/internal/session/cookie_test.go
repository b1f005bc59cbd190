package session

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// newMemoryManager returns a Manager on a private memory store.
func newMemoryManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	st, err := store.NewMemory(store.MemoryOptions{Now: cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	if cfg.Keys == nil {
		cfg.Keys = [][]byte{testKey()}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func TestCookieConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      CookieConfig
		wantName string
		wantSS   http.SameSite
		wantErr  bool
	}{
		{name: "defaults", wantName: "__Host-portcullis", wantSS: http.SameSiteStrictMode},
		{name: "insecure falls back", cfg: CookieConfig{Insecure: true}, wantName: "portcullis", wantSS: http.SameSiteStrictMode},
		{name: "lax", cfg: CookieConfig{SameSite: http.SameSiteLaxMode}, wantName: "__Host-portcullis", wantSS: http.SameSiteLaxMode},
		{name: "default mode is strict", cfg: CookieConfig{SameSite: http.SameSiteDefaultMode}, wantName: "__Host-portcullis", wantSS: http.SameSiteStrictMode},
		{name: "custom name", cfg: CookieConfig{Name: "__Host-gw"}, wantName: "__Host-gw", wantSS: http.SameSiteStrictMode},
		{name: "none refused", cfg: CookieConfig{SameSite: http.SameSiteNoneMode}, wantErr: true},
		{name: "host prefix without secure", cfg: CookieConfig{Name: "__Host-x", Insecure: true}, wantErr: true},
		{name: "secure prefix without secure", cfg: CookieConfig{Name: "__secure-x", Insecure: true}, wantErr: true},
		{name: "bad name", cfg: CookieConfig{Name: "a b"}, wantErr: true},
		{name: "semicolon", cfg: CookieConfig{Name: "a;b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.cfg.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (got.Name != tt.wantName || got.SameSite != tt.wantSS) {
				t.Fatalf("withDefaults() = %+v, want name %q samesite %v", got, tt.wantName, tt.wantSS)
			}
		})
	}
}

func TestInsecureCookie(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{Cookie: CookieConfig{Insecure: true, SameSite: http.SameSiteLaxMode}})
	_, ck, err := m.Create(t.Context(), testLogin("u", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Name != "portcullis" || ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("insecure cookie = %+v", ck)
	}
	if m.CookieName() != "portcullis" {
		t.Fatalf("CookieName() = %q", m.CookieName())
	}
}

// TestBadCookies feeds tampered, truncated, foreign and garbage cookies:
// each must yield ErrInvalidCookie, never a panic or a session.
func TestBadCookies(t *testing.T) {
	t.Parallel()
	keys := [][]byte{testKey()}
	m := newMemoryManager(t, Config{Keys: keys})
	foreign := newMemoryManager(t, Config{})
	ctx := t.Context()
	_, good, err := m.Create(ctx, testLogin("victor", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	_, alien, err := foreign.Create(ctx, testLogin("victor", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	// The real cookie is used first, so it is in the decoded-ticket cache
	// while the forgeries below are tried.
	if _, err := m.Load(ctx, request(good)); err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// A cookie correctly encoded with our key but holding a chosen id
	// (as if the key leaked) is still refused unless the id is well-formed.
	codecs, err := DeriveCodecs(keys, PurposeTicket, 0)
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := securecookie.EncodeMulti(m.CookieName(), []byte("attacker-chosen"), codecs...)
	if err != nil {
		t.Fatal(err)
	}
	otherPurpose, err := securecookie.EncodeMulti(m.CookieName(), []byte(strings.Repeat("A", 43)), mustCodecs(t, keys, "flow")...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		value string
	}{
		{"foreign key", alien.Value},
		{"flipped first", flip(good.Value, 0)},
		{"flipped middle", flip(good.Value, len(good.Value)/2)},
		{"flipped last", flip(good.Value, len(good.Value)-1)},
		{"truncated half", good.Value[:len(good.Value)/2]},
		{"truncated by one", good.Value[:len(good.Value)-1]},
		{"one char", good.Value[:1]},
		{"appended", good.Value + "A"},
		{"empty", ""},
		{"pipes", "|||"},
		{"not base64", "!!!***"},
		{"base64 garbage", base64.URLEncoding.EncodeToString([]byte("1|2|3"))},
		{"huge", strings.Repeat("A", 100000)},
		{"unicode", "ünïcødé☃"},
		{"nul bytes", "\x00\x00\x00"},
		{"chosen id", chosen},
		{"other purpose", otherPurpose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := m.DecodeTicket(tt.value); !errors.Is(err, ErrInvalidCookie) {
				t.Fatalf("DecodeTicket: %v, want ErrInvalidCookie", err)
			}
			r := request(&http.Cookie{Name: m.CookieName(), Value: "x"})
			r.Header.Set("Cookie", m.CookieName()+"="+tt.value)
			s, err := m.Load(ctx, r)
			if s != nil || !errors.Is(err, ErrNoSession) {
				t.Fatalf("Load = %v, %v; want no session", s, err)
			}
			if strings.Contains(err.Error(), tt.value) && tt.value != "" {
				t.Fatal("the error repeats the cookie")
			}
		})
	}
	// A planted extra cookie of the same name does not hide the real one.
	r := request(&http.Cookie{Name: m.CookieName(), Value: alien.Value}, good)
	if _, err := m.Load(ctx, r); err != nil {
		t.Fatalf("Load with a planted cookie before the real one: %v", err)
	}
}

func mustCodecs(t *testing.T, keys [][]byte, purpose string) []securecookie.Codec {
	t.Helper()
	c, err := DeriveCodecs(keys, purpose, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeriveCodecs(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(), testKey()
	tests := []struct {
		name    string
		keys    [][]byte
		purpose string
		wantErr bool
	}{
		{name: "one key", keys: [][]byte{k1}, purpose: "p"},
		{name: "two keys", keys: [][]byte{k1, k2}, purpose: "p"},
		{name: "no keys", purpose: "p", wantErr: true},
		{name: "short key", keys: [][]byte{k1[:31]}, purpose: "p", wantErr: true},
		{name: "no purpose", keys: [][]byte{k1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := DeriveCodecs(tt.keys, tt.purpose, time.Minute)
			if (err != nil) != tt.wantErr {
				t.Fatalf("DeriveCodecs error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && len(c) != len(tt.keys) {
				t.Fatalf("got %d codecs, want %d", len(c), len(tt.keys))
			}
		})
	}
}
