package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ticketByNetHTTP is how ticket read the cookie before the scan: every
// cookie of the name net/http's CookiesNamed returns, in its order, the
// first that decodes winning. It decodes without the ticket cache.
func ticketByNetHTTP(m *Manager, r *http.Request) (string, error) {
	cookies := r.CookiesNamed(m.cookie.Name)
	if len(cookies) == 0 {
		return "", ErrNoCookie
	}
	for _, c := range cookies {
		if t, err := m.decodeUncached(c.Value, m.now()); err == nil {
			return t.idHash, nil
		}
	}
	return "", ErrInvalidCookie
}

// cookieCorpus returns Cookie header lines that exercise the corners of
// net/http's reading for the cookie called name: good is a value that
// decodes, other one that decodes to another session, bad one that does
// not.
func cookieCorpus(name, good, other, bad string) [][]string {
	upper := strings.ToUpper(name)
	lines := []string{
		"",
		name + "=" + good,
		name + "=" + bad,
		name + "=" + other,
		name + "=\"" + good + "\"",
		name + "=\"" + good,
		name + "=" + good + "\"",
		name + "=\"\"",
		name + "=\"",
		name + "=",
		name,
		" " + name + " = " + good,
		" " + name + " =" + good,
		"\t" + name + "=" + good + "\t",
		name + "= " + good,
		name + "=" + good + " ",
		name + "=" + good + " ; ",
		name + "=" + good + ";;;",
		";;" + name + "=" + good,
		name + "=" + bad + "; " + name + "=" + good,
		name + "=" + good + "; " + name + "=" + other,
		name + "=" + other + "; " + name + "=" + good,
		name + "=" + bad + "; " + name + "=" + bad,
		name + "=a\"b; " + name + "=" + good,
		name + "=a\\b",
		name + "=a\"b",
		name + "=\x01" + good,
		name + "=" + good + "\x7f",
		name + "=ünï; " + name + "=" + good,
		name + "=\"a\"b\"",
		upper + "=" + good,
		name + "x=" + good,
		"x" + name + "=" + good,
		name[:len(name)-1] + "=" + good,
		"a=1; " + name + "x=" + good + "; b=2",
		"a=1; b=" + good + "; " + name + "=" + good,
		"a b=1; " + name + "=" + good,
		"=" + good + "; " + name + "=" + bad,
		name + "==" + good,
		name + "=" + good + "=",
		name + "=" + strings.Repeat("A", 2000),
		"other=x; " + name + "=" + good + "; last=y",
		name + "=" + good + "\r\n",
	}
	var corpus [][]string
	for _, l := range lines {
		corpus = append(corpus, []string{l})
	}
	corpus = append(corpus,
		nil,
		[]string{},
		[]string{"", ""},
		[]string{"a=1", name + "=" + good},
		[]string{name + "=" + bad, name + "=" + good},
		[]string{name + "=" + other, name + "=" + good},
		[]string{name + "=x\"", "  ", name + "=" + bad},
		[]string{strings.Repeat("a=1;", 2999) + name + "=" + good},
		[]string{strings.Repeat("a=1;", 3000) + name + "=" + good},
		[]string{strings.Repeat("a=1;", 1500), strings.Repeat("b=2;", 1499) + name + "=" + good},
		[]string{strings.Repeat("a=1;", 1500), strings.Repeat("b=2;", 1500) + name + "=" + good},
		[]string{strings.Repeat(";", 3001)},
	)
	return corpus
}

// TestTicketMatchesNetHTTP holds the cookie scan to net/http's reading:
// for every header of a corpus of tricky Cookie headers, and for random
// combinations of their parts, ticket finds the session net/http's
// CookiesNamed would give, or the same error, with the ticket cache cold
// and warm.
func TestTicketMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"__Host-portcullis", "portcullis", "s"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := newMemoryManager(t, Config{Cookie: CookieConfig{Name: name, Insecure: !strings.HasPrefix(name, "__")}})
			_, good, err := m.Create(t.Context(), testLogin("alice", time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			_, other, err := m.Create(t.Context(), testLogin("bob", time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			bad := good.Value[:len(good.Value)-2] + "AA"
			corpus := cookieCorpus(name, good.Value, other.Value, bad)
			check := func(lines []string) {
				t.Helper()
				r, _ := http.NewRequest(http.MethodGet, "https://app.example/", nil)
				if lines != nil {
					r.Header["Cookie"] = lines
				}
				wantH, wantErr := ticketByNetHTTP(m, r)
				for range 2 { // cold, then warm
					gotT, gotErr := m.ticket(r)
					var gotH string
					if gotT != nil {
						gotH = gotT.idHash
					}
					if gotH != wantH || !errors.Is(gotErr, wantErr) || (gotErr == nil) != (wantErr == nil) {
						t.Fatalf("Cookie %.200q: ticket = %.12q, %v; net/http reading = %.12q, %v", lines, gotH, gotErr, wantH, wantErr)
					}
				}
			}
			for _, lines := range corpus {
				m.tickets = ticketCache{}
				check(lines)
			}
			// Random headers of up to four lines of up to six parts each,
			// the parts taken from the corpus's lines.
			var parts []string
			for _, lines := range corpus[:len(corpus)-6] { // not the huge ones
				for _, l := range lines {
					parts = append(parts, strings.Split(l, ";")...)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 5000 {
				lines := make([]string, 1+rng.IntN(4))
				for i := range lines {
					ps := make([]string, 1+rng.IntN(6))
					for j := range ps {
						ps[j] = parts[rng.IntN(len(parts))]
					}
					lines[i] = strings.Join(ps, []string{";", "; ", " ;", ";;"}[rng.IntN(4)])
				}
				if rng.IntN(2) == 0 {
					m.tickets = ticketCache{}
				}
				check(lines)
			}
		})
	}
}

// TestTicketCacheOnlyValidCookieValues shows a value securecookie decodes
// but a Cookie header cannot carry (a line break inside) is never
// remembered, so a cache hit is always a value net/http would read.
func TestTicketCacheOnlyValidCookieValues(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{})
	_, good, err := m.Create(t.Context(), testLogin("alice", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	broken := good.Value[:10] + "\r\n" + good.Value[10:]
	// securecookie's base64 decoding skips line breaks.
	if _, err := m.DecodeTicket(broken); err != nil {
		t.Fatalf("DecodeTicket with a line break: %v; this test needs one that decodes", err)
	}
	if n := m.tickets.len(); n != 0 {
		t.Fatalf("ticket cache holds %d entries after a value with a line break", n)
	}
}

// BenchmarkTicket measures finding and decoding the session cookie of a
// request with a few other cookies (a decoded-ticket cache hit).
func BenchmarkTicket(b *testing.B) {
	m := benchManager(b)
	_, ck, err := m.Create(b.Context(), Login{Subject: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "https://app.example/", nil)
	r.Header.Set("Cookie", fmt.Sprintf("_ga=GA1.2.3.4; theme=dark; %s=%s; lang=en", ck.Name, ck.Value))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.ticket(r); err != nil {
			b.Fatal(err)
		}
	}
}
