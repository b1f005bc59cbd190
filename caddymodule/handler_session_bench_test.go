package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
	h.app.audit = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	_, cookie, err := h.app.sessions.Create(b.Context(), session.Login{Subject: "alice",
		Claims: session.Claims{Email: "alice@example.test", Name: "Alice", Groups: []string{"staff"}, Raw: map[string]any{"sub": "alice", "email": "alice@example.test"}},
		Tokens: session.Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id", Expiry: time.Now().Add(time.Hour)}})
	if err != nil {
		b.Fatal(err)
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "http://gw.test/orders", nil)
		r.Header.Set("Accept", "application/json")
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
		if err := h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
			b.Fatalf("status %d: %v %s", w.Code, err, w.Body)
		}
	}
}
