package session

import (
	"errors"
	"testing"
	"time"
)

// testRememberMe: a remembered session outlives the absolute timeout (up
// to RememberTimeout, with its own idle timeout) while one that was not
// remembered ends at it; logout ends a remembered one at once; a
// Manager without RememberTimeout ignores the request.
func testRememberMe(t *testing.T, b backend) {
	clk := newClock()
	cfg := Config{Now: clk.Now, IdleTimeout: 10 * time.Minute, AbsoluteTimeout: 30 * time.Minute,
		RememberTimeout: 24 * time.Hour, RememberIdleTimeout: 2 * time.Hour}
	f := newFixture(t, b, cfg)
	ctx := t.Context()
	plain := testLogin("heidi", clk.Now())
	kept := testLogin("heidi", clk.Now())
	kept.Remember = true
	kept.Provider = "staff"
	_, plainCk, err := f.m.Create(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	made, keptCk, err := f.m.Create(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if !made.Remembered || !made.Expires.Equal(clk.Now().Add(24*time.Hour)) || made.Provider != "staff" || made.Info().Provider != "staff" || !made.Info().Remembered {
		t.Fatalf("remembered session: remembered %v, expires %v, provider %q", made.Remembered, made.Expires, made.Provider)
	}
	if got := keptCk.MaxAge; got < int((24*time.Hour)/time.Second)-1 {
		t.Fatalf("remembered cookie Max-Age %d, want about a day", got)
	}
	for range 4 { // 40 minutes, used every 10: past the absolute timeout
		clk.Advance(9 * time.Minute)
		if _, err := f.m.Load(ctx, request(keptCk)); err != nil {
			t.Fatalf("remembered session after %v: %v", clk.Now().Sub(made.Created), err)
		}
	}
	if _, err := f.m.Load(ctx, request(plainCk)); !errors.Is(err, ErrExpired) {
		t.Fatalf("session that was not remembered, past its absolute timeout: %v", err)
	}
	clk.Advance(90 * time.Minute) // idle, but within the remembered idle timeout
	if s, err := f.m.Load(ctx, request(keptCk)); err != nil || s.Principal().Provider != "staff" {
		t.Fatalf("remembered session after 90 idle minutes: %v", err)
	}
	clk.Advance(2*time.Hour + time.Second) // past the remembered idle timeout
	if _, err := f.m.Load(ctx, request(keptCk)); !errors.Is(err, ErrExpired) || Reason(err) != ReasonIdleTimeout {
		t.Fatalf("remembered session past its idle timeout: %v", err)
	}

	_, againCk, err := f.m.Create(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.m.Logout(ctx, request(againCk)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Load(ctx, request(againCk)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("remembered session after logout: %v", err)
	}

	off := newFixture(t, b, Config{Now: clk.Now, IdleTimeout: 10 * time.Minute, AbsoluteTimeout: 30 * time.Minute})
	s, _, err := off.m.Create(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if s.Remembered || !s.Expires.Equal(clk.Now().Add(30*time.Minute)) {
		t.Fatalf("without RememberTimeout: remembered %v, expires %v", s.Remembered, s.Expires)
	}
}
