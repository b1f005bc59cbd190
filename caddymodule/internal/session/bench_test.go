package session

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// benchManager returns a Manager on a fresh memory store.
func benchManager(b *testing.B) *Manager {
	b.Helper()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	m, err := New(Config{Store: st, Keys: [][]byte{[]byte("bench-session-key-0123456789abcdef0123")}})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchLogin is the login of the Load benchmarks.
var benchLogin = Login{Subject: "alice", Claims: Claims{Email: "alice@example.test", Name: "Alice", Groups: []string{"a", "b"}},
	Tokens: Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id", Expiry: time.Now().Add(time.Hour)}}

// BenchmarkLoad measures what every request with a session cookie pays:
// decoding the ticket, one store read, decrypting and decoding the
// record (the touch write happens at most once per TouchInterval).
func BenchmarkLoad(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	_, cookie, err := m.Create(ctx, benchLogin)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Load(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadInto is BenchmarkLoad with the Session and its Principal
// on the caller's stack, as the handler loads them.
func BenchmarkLoadInto(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	_, cookie, err := m.Create(ctx, benchLogin)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	b.ReportAllocs()
	for b.Loop() {
		var s Session
		if err := m.LoadInto(ctx, r, &s); err != nil {
			b.Fatal(err)
		}
		if p := s.Principal(); p.Subject == "" {
			b.Fatal("no subject")
		}
	}
}
