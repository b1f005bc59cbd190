package session

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func TestNewConfig(t *testing.T) {
	t.Parallel()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := testKey()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "minimal", cfg: Config{Store: st, Keys: [][]byte{key}}},
		{name: "no store", cfg: Config{Keys: [][]byte{key}}, wantErr: "store"},
		{name: "no keys", cfg: Config{Store: st}, wantErr: "no keys"},
		{name: "short key", cfg: Config{Store: st, Keys: [][]byte{key[:16]}}, wantErr: "at least 32"},
		{name: "absolute shorter than idle", cfg: Config{Store: st, Keys: [][]byte{key}, IdleTimeout: time.Hour, AbsoluteTimeout: time.Minute}, wantErr: "shorter"},
		{name: "negative", cfg: Config{Store: st, Keys: [][]byte{key}, TouchInterval: -1}, wantErr: "negative"},
		{name: "bad prefix", cfg: Config{Store: st, Keys: [][]byte{key}, KeyPrefix: "a{b"}, wantErr: "braces"},
		{name: "bad cookie", cfg: Config{Store: st, Keys: [][]byte{key}, Cookie: CookieConfig{SameSite: http.SameSiteNoneMode}}, wantErr: "SameSite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if bytes.Contains([]byte(err.Error()), key[:8]) {
				t.Fatal("the error contains key material")
			}
		})
	}
}

func TestDefaultTouchInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		idle time.Duration
		want time.Duration
	}{
		{name: "long idle caps at 30s", idle: time.Hour, want: 30 * time.Second},
		{name: "short idle uses a tenth", idle: time.Minute, want: 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMemoryManager(t, Config{IdleTimeout: tt.idle})
			if m.touch != tt.want {
				t.Fatalf("touch interval = %v, want %v", m.touch, tt.want)
			}
		})
	}
}

// TestStoreTTL checks that the store itself forgets a session after
// min(idle, remaining absolute), using a memory store on the fake clock.
func TestStoreTTL(t *testing.T) {
	t.Parallel()
	clk := newClock()
	st, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := New(Config{Store: st, Keys: [][]byte{testKey()}, Now: clk.Now, IdleTimeout: time.Hour, AbsoluteTimeout: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	created, ck, err := m.Create(ctx, testLogin("trent", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	key := m.keys.session(created.IDHash)
	clk.Advance(50 * time.Minute)
	if _, err := m.Load(ctx, request(ck)); err != nil { // touch: ttl = min(1h, 40m)
		t.Fatal(err)
	}
	clk.Advance(39 * time.Minute)
	if _, err := st.Get(ctx, key); err != nil {
		t.Fatalf("record before the absolute expiry: %v", err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after the absolute expiry: %v, want it gone from the store", err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	st, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Store: st, Keys: [][]byte{testKey()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, ck, err := m.Create(ctx, testLogin("uma", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = m.Load(ctx, request(ck))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoSession) || Reason(err) != ReasonUnavailable {
		t.Fatalf("Load on a closed store: %v, want ErrUnavailable (fail closed, not a login redirect)", err)
	}
	if _, _, err := m.Create(ctx, testLogin("uma", time.Now())); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Create on a closed store: %v", err)
	}
	if _, _, err := m.Logout(ctx, request(ck)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Logout on a closed store: %v", err)
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"no cookie", ErrNoCookie, ReasonNoCookie},
		{"invalid", ErrInvalidCookie, ReasonInvalidCookie},
		{"not found", ErrNotFound, ReasonNotFound},
		{"idle", &expiredError{}, ReasonIdleTimeout},
		{"absolute", &expiredError{absolute: true}, ReasonAbsoluteTimeout},
		{"refresh", ErrRefreshFailed, ReasonRefreshFailed},
		{"unavailable", unavailable("x", errors.New("boom")), ReasonUnavailable},
		{"other", errors.New("other"), ReasonInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Reason(tt.err); got != tt.want {
				t.Fatalf("Reason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(), testKey()
	s1, err := newSealer([][]byte{k1})
	if err != nil {
		t.Fatal(err)
	}
	s21, err := newSealer([][]byte{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := newSealer([][]byte{k2})
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte(`{"secret":"value"}`)
	sealed := s1.Seal(pt, "key-a")
	if bytes.Contains(sealed, pt) {
		t.Fatal("sealed record contains the plaintext")
	}
	if again := s1.Seal(pt, "key-a"); bytes.Equal(again, sealed) {
		t.Fatal("two seals are identical: nonce reuse")
	}
	tests := []struct {
		name   string
		s      *Sealer
		sealed []byte
		aad    string
		ok     bool
	}{
		{"same key", s1, sealed, "key-a", true},
		{"rotated: old key still opens", s21, sealed, "key-a", true},
		{"new key only", s2, sealed, "key-a", false},
		{"moved to another store key", s1, sealed, "key-b", false},
		{"truncated", s1, sealed[:len(sealed)-1], "key-a", false},
		{"too short", s1, sealed[:10], "key-a", false},
		{"empty", s1, nil, "key-a", false},
		{"flipped", s1, append(append([]byte(nil), sealed[:20]...), append([]byte{sealed[20] ^ 1}, sealed[21:]...)...), "key-a", false},
		{"wrong version", s1, append([]byte{9}, sealed[1:]...), "key-a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.Open(tt.sealed, tt.aad)
			if tt.ok != (err == nil) || (tt.ok && !bytes.Equal(got, pt)) {
				t.Fatalf("open = %q, %v; want ok=%v", got, err, tt.ok)
			}
		})
	}
	if !bytes.Equal(s21.Seal(pt, "k")[1:5], s2.Seal(pt, "k")[1:5]) {
		t.Fatal("the first key does not seal")
	}
}
