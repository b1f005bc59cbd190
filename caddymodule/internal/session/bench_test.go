package session

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// BenchmarkLoad measures what every request with a session cookie pays:
// decoding the ticket, one store read, decrypting and decoding the
// record (the touch write happens at most once per TouchInterval).
func BenchmarkLoad(b *testing.B) {
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, err := New(Config{Store: st, Keys: [][]byte{[]byte("bench-session-key-0123456789abcdef0123")}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_, cookie, err := m.Create(ctx, Login{Subject: "alice", Claims: Claims{Email: "alice@example.test", Name: "Alice", Groups: []string{"a", "b"}},
		Tokens: Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id", Expiry: time.Now().Add(time.Hour)}})
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
