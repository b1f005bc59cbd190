package session

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCachesBounded shows neither decoded-record nor decoded-ticket memory
// grows past its bound however many sessions are used.
func TestCachesBounded(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{})
	ctx := t.Context()
	n := max(recordCacheSize, ticketCacheSize) + 100
	for i := range n {
		_, ck, err := m.Create(ctx, testLogin(fmt.Sprint("user-", i), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Load(ctx, request(ck)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.decoded.len(); got != recordCacheSize {
		t.Errorf("decoded records kept = %d, want the bound %d", got, recordCacheSize)
	}
	if got := m.tickets.len(); got != ticketCacheSize {
		t.Errorf("decoded tickets kept = %d, want the bound %d", got, ticketCacheSize)
	}
}

// TestForgedCookiesNotRemembered shows cookies that do not decode are
// never added, so forged cookies cannot fill the ticket cache.
func TestForgedCookiesNotRemembered(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{})
	foreign := newMemoryManager(t, Config{})
	for i := range 50 {
		_, ck, err := foreign.Create(t.Context(), testLogin(fmt.Sprint("mallory-", i), time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Load(t.Context(), request(ck)); err == nil {
			t.Fatal("a cookie sealed with another key was accepted")
		}
	}
	if got := m.tickets.len(); got != 0 {
		t.Fatalf("ticket cache holds %d entries after only forged cookies", got)
	}
}

// TestTicketCacheExpires shows a remembered cookie is decoded afresh once
// ticketCacheTTL has passed, so the cookie's own age limit applies again.
func TestTicketCacheExpires(t *testing.T) {
	t.Parallel()
	var c ticketCache
	now := time.Now()
	c.put(ticketKey("cookie"), cachedTicket{value: "cookie", id: "id", idHash: "h", until: now.Add(ticketCacheTTL)})
	if _, ok := c.get(ticketKey("cookie"), "cookie", now.Add(ticketCacheTTL-time.Second)); !ok {
		t.Fatal("fresh entry not found")
	}
	if _, ok := c.get(ticketKey("cookie"), "cookie", now.Add(ticketCacheTTL)); ok {
		t.Fatal("entry used at its expiry")
	}
	if _, ok := c.get(ticketKey("cookie2"), "cookie2", now); ok {
		t.Fatal("another cookie found")
	}
}

// TestTicketCacheBindsWholeCookie forces another value onto a cached
// cookie's key: it must not be taken for the cookie that decoded.
func TestTicketCacheBindsWholeCookie(t *testing.T) {
	t.Parallel()
	var c ticketCache
	now := time.Now()
	c.put(7, cachedTicket{value: "MTcwMDAwMDAwMHxabc", id: "id", idHash: "h", until: now.Add(ticketCacheTTL)})
	for _, v := range []string{"MTcwMDAwMDAwMHxabd", "MTcwMDAwMDAwMHxab", "MTcwMDAwMDAwMHxabcd", ""} {
		if _, ok := c.get(7, v, now); ok {
			t.Errorf("%q taken for the cached cookie", v)
		}
	}
	if _, ok := c.get(7, "MTcwMDAwMDAwMHxabc", now); !ok {
		t.Fatal("the cached cookie itself not found")
	}
}

// TestCacheForgetsEndedSessions shows a logout drops the decoded record,
// so an ended session's tokens do not stay in memory until evicted.
func TestCacheForgetsEndedSessions(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{})
	_, ck, err := m.Create(t.Context(), testLogin("ivan", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(t.Context(), request(ck)); err != nil {
		t.Fatal(err)
	}
	if m.decoded.len() != 1 {
		t.Fatalf("decoded records = %d after a Load, want 1", m.decoded.len())
	}
	if _, _, err := m.Logout(t.Context(), request(ck)); err != nil {
		t.Fatal(err)
	}
	if m.decoded.len() != 0 {
		t.Fatalf("decoded records = %d after logout, want 0", m.decoded.len())
	}
}

// TestLargeRecordsNotCached shows records over maxCachedRecord are decoded
// on every Load rather than kept, bounding the cache in bytes.
func TestLargeRecordsNotCached(t *testing.T) {
	t.Parallel()
	m := newMemoryManager(t, Config{})
	login := testLogin("judy", time.Now())
	login.Tokens.IDToken = strings.Repeat("x", maxCachedRecord)
	_, ck, err := m.Create(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := m.Load(t.Context(), request(ck))
		if err != nil || s.Tokens.IDToken != login.Tokens.IDToken {
			t.Fatalf("Load = %v, %v", s, err)
		}
	}
	if m.decoded.len() != 0 {
		t.Fatalf("decoded records = %d for an oversized record, want 0", m.decoded.len())
	}
}

// TestSharedRecordNeverModified shows the record a cache hit shares
// between requests is never changed: not by a touch (which writes a new
// record), not by a caller appending to its principal's groups or AMR.
func TestSharedRecordNeverModified(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := newMemoryManager(t, Config{Now: clk.Now})
	ctx := t.Context()
	login := testLogin("sharon", clk.Now())
	login.Claims.Groups = []string{"staff", "ops", "dev"} // decoded with spare capacity
	login.Claims.AMR = []string{"pwd", "otp", "hwk"}
	created, ck, err := m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Load(ctx, request(ck)) // decodes and caches
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.decoded.entries.get(m.keys.session(created.IDHash))
	if !ok {
		t.Fatal("the record was not cached")
	}
	shared, snapshot := e.rec, *e.rec
	snapshot.Claims.Groups = slices.Clone(snapshot.Claims.Groups)
	snapshot.Claims.AMR = slices.Clone(snapshot.Claims.AMR)

	var s Session
	if err := m.LoadInto(ctx, request(ck), &s); err != nil { // a hit
		t.Fatal(err)
	}
	p := s.Principal()
	_ = append(p.Groups, "injected")
	_ = append(p.AMR, "injected")
	clk.Advance(time.Minute) // past the touch interval
	touched, err := m.Load(ctx, request(ck))
	if err != nil {
		t.Fatal(err)
	}
	if !touched.LastSeen.Equal(clk.Now()) || !first.LastSeen.Equal(created.LastSeen) {
		t.Fatalf("LastSeen: touched %v (want %v), first %v (want %v)", touched.LastSeen, clk.Now(), first.LastSeen, created.LastSeen)
	}
	for _, l := range [][]string{shared.Claims.Groups, shared.Claims.AMR} {
		if slices.Contains(l[:cap(l)], "injected") {
			t.Fatalf("an append to the principal wrote into the shared record: %q", l[:cap(l)])
		}
	}
	if !reflect.DeepEqual(*shared, snapshot) {
		t.Fatalf("the shared record changed:\n got %+v\nwant %+v", *shared, snapshot)
	}
}
