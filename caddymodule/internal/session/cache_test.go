package session

import (
	"fmt"
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
