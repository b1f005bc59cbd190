package session

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReview3TicketMatchesNetHTTPByteLevel extends the differential test
// below the part level: Cookie lines built token by token from names that
// are prefixes, suffixes and case variants of ours, separators ('=', ';',
// ','), every kind of space net/http trims or keeps (including NBSP and
// a vertical tab), quotes, backslashes, non-ASCII and control bytes,
// and the values of two sessions, so that every way of gluing them is
// tried. The scan must give the session net/http's reading gives, with
// the ticket cache cold and warm.
func TestReview3TicketMatchesNetHTTPByteLevel(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"portcullis", "__Host-p"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := newMemoryManager(t, Config{Cookie: CookieConfig{Name: name, Insecure: !strings.HasPrefix(name, "__")}})
			_, alice, err := m.Create(t.Context(), testLogin("alice", time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			_, bob, err := m.Create(t.Context(), testLogin("bob", time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			tokens := []string{
				name, name, name, strings.ToUpper(name), name[1:], name[:len(name)-1], "x" + name, name + "x",
				"=", "=", "=", ";", ";", "; ", ",", " ", "\t", "\r", "\n", "\v", "\u00a0", "\x00", "\x7f",
				"\"", "\\", "ü", "a", "==",
				alice.Value, alice.Value, bob.Value, bob.Value, alice.Value[:10], bob.Value[10:],
			}
			rng := rand.New(rand.NewPCG(7, 8))
			for i := range 30000 {
				lines := make([]string, 1+rng.IntN(3))
				for j := range lines {
					var b strings.Builder
					for range 1 + rng.IntN(10) {
						b.WriteString(tokens[rng.IntN(len(tokens))])
					}
					lines[j] = b.String()
				}
				r, _ := http.NewRequest(http.MethodGet, "https://app.example/", nil)
				r.Header["Cookie"] = lines
				wantH, wantErr := ticketByNetHTTP(m, r)
				if i%3 == 0 {
					m.tickets = ticketCache{}
				}
				for range 2 {
					got, gotErr := m.ticket(r)
					var gotH string
					if got != nil {
						gotH = got.idHash
					}
					if gotH != wantH || (gotErr == nil) != (wantErr == nil) || (wantErr != nil && !errors.Is(gotErr, wantErr)) {
						t.Fatalf("Cookie %q: ticket = %.12q, %v; net/http = %.12q, %v", lines, gotH, gotErr, wantH, wantErr)
					}
				}
			}
		})
	}
}

// TestReview3TicketCacheNeverCrossesSessions: with both sessions' cookies
// cached, each cookie yields its own session and store key, and a cookie
// one bit off, or truncated, never yields another session (a flip in
// base64's unused low bits may still decode to the same one).
func TestReview3TicketCacheNeverCrossesSessions(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{Cookie: CookieConfig{Name: "portcullis", Insecure: true}})
	_, alice, err := m.Create(t.Context(), testLogin("alice", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	_, bob, err := m.Create(t.Context(), testLogin("bob", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ta, err := m.decodeTicket(alice.Value)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := m.decodeTicket(bob.Value)
	if err != nil {
		t.Fatal(err)
	}
	if ta.idHash == tb.idHash || ta.key == tb.key {
		t.Fatal("two sessions share a ticket")
	}
	for range 3 {
		for _, c := range []struct {
			value, want string
		}{{alice.Value, ta.idHash}, {bob.Value, tb.idHash}, {"\"" + bob.Value + "\"", tb.idHash}} {
			r, _ := http.NewRequest(http.MethodGet, "https://app.example/", nil)
			r.Header["Cookie"] = []string{"portcullis=" + c.value}
			got, err := m.ticket(r)
			if err != nil || got.idHash != c.want || got.key != m.keys.session(c.want) {
				t.Fatalf("cookie %.20q: %+v, %v", c.value, got, err)
			}
		}
	}
	for i := range len(bob.Value) {
		b := []byte(bob.Value)
		b[i] ^= 1
		for _, v := range []string{string(b), bob.Value[:i]} {
			if got, err := m.decodeTicket(v); err == nil && got.idHash != tb.idHash {
				t.Fatalf("a mangled cookie decoded to session %.12q", got.idHash)
			}
		}
	}
}
