package caddymodule

import (
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// BenchmarkHandlerSession measures a request carrying a browser session
// cookie (in-memory store), audit events encoded as in production.
func BenchmarkHandlerSession(b *testing.B) {
	t := &testing.T{}
	h, _ := newTestHandler(t, Handler{})
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if h.app.sessions, err = session.New(session.Config{Store: st, Keys: [][]byte{[]byte("bench-session-key-0123456789abcdef0123")}}); err != nil {
		b.Fatal(err)
	}
	h.accept = append(h.accept, "session")
	_, cookie, err := h.app.sessions.Create(b.Context(), session.Login{Subject: "alice",
		Claims: session.Claims{Email: "alice@example.test", Name: "Alice", Groups: []string{"staff"}, Raw: map[string]any{"sub": "alice", "email": "alice@example.test"}},
		Tokens: session.Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id", Expiry: time.Now().Add(time.Hour)}})
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, h, func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		r.AddCookie(cookie)
	})
}
