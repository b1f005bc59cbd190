package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRefresher issues numbered tokens after a delay.
type fakeRefresher struct {
	clock *fakeClock
	delay time.Duration
	err   error
	calls atomic.Int64

	groups []string // when set, refreshes return claims with these groups

	mu        sync.Mutex
	presented []string // refresh tokens presented
}

func (f *fakeRefresher) Refresh(ctx context.Context, req RefreshRequest) (Refreshed, error) {
	cur := req.Tokens
	n := f.calls.Add(1)
	f.mu.Lock()
	f.presented = append(f.presented, cur.RefreshToken)
	f.mu.Unlock()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return Refreshed{}, ctx.Err()
	}
	if f.err != nil {
		return Refreshed{}, f.err
	}
	out := Refreshed{Tokens: Tokens{
		AccessToken:  fmt.Sprintf("access-refreshed-%d", n),
		RefreshToken: fmt.Sprintf("refresh-rotated-%d", n),
		TokenType:    "Bearer",
		Expiry:       f.clock.Now().Add(time.Hour),
	}}
	if f.groups != nil {
		out.Claims = &Claims{Email: "refreshed@example.com", Groups: f.groups}
	}
	return out, nil
}

// testRefreshOnce: 50 concurrent requests on two replicas, the access
// token expiring in left, cause exactly one refresh.
//
// The refresh lock's TTL and the time a request waits for another's
// refresh run in real time (Redis keeps the lock); they are a minute here,
// which no refresh of this test approaches on however busy a machine, so
// neither can run out and let a second refresh start or a request go on
// with the expired token. The defaults' own timing is not what this
// checks.
func testRefreshOnce(t *testing.T, b backend, left time.Duration) {
	clk := newClock()
	ref := &fakeRefresher{clock: clk, delay: 100 * time.Millisecond}
	cfg := Config{Now: clk.Now, Refresher: ref, Keys: [][]byte{testKey()}, KeyPrefix: "ref-" + fmt.Sprint(time.Now().UnixNano()),
		RefreshLockTTL: time.Minute, RefreshWait: time.Minute}
	replicas := []*Manager{newFixture(t, b, cfg).m, newFixture(t, b, cfg).m}
	ctx := t.Context()
	login := testLogin("oscar", clk.Now())
	login.Tokens.Obtained = clk.Now().Add(-time.Hour)
	login.Tokens.Expiry = clk.Now().Add(left)
	_, ck, err := replicas[0].Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	tokens := make([]string, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Go(func() {
			s, err := replicas[i%2].Load(ctx, request(ck))
			if err != nil {
				errs[i] = err
				return
			}
			tokens[i] = s.Tokens.AccessToken
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := ref.calls.Load(); n != 1 {
		t.Fatalf("Refresher called %d times, want exactly 1", n)
	}
	for i, tok := range tokens {
		if left < 0 && tok != "access-refreshed-1" {
			t.Errorf("request %d served token %q with an expired one, want the refreshed one", i, tok)
		}
		if tok != "access-refreshed-1" && tok != login.Tokens.AccessToken {
			t.Errorf("request %d: unexpected token", i)
		}
	}
	s, err := replicas[1].Load(ctx, request(ck))
	if err != nil || s.Tokens.AccessToken != "access-refreshed-1" || s.Tokens.RefreshToken != "refresh-rotated-1" || s.Tokens.IDToken != login.Tokens.IDToken {
		t.Fatalf("after refresh: %v, tokens updated = %v", err, s != nil && s.Tokens.AccessToken == "access-refreshed-1")
	}
}

func testRefreshRotates(t *testing.T, b backend) {
	clk := newClock()
	ref := &fakeRefresher{clock: clk}
	f := newFixture(t, b, Config{Now: clk.Now, Refresher: ref})
	ctx := t.Context()
	login := testLogin("peggy", clk.Now())
	_, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clk.Advance(50 * time.Minute) // 10 minutes (< 20% of 1h) left
		if _, err := f.m.Load(ctx, request(ck)); err != nil {
			t.Fatal(err)
		}
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if len(ref.presented) != 2 || ref.presented[0] != login.Tokens.RefreshToken || ref.presented[1] != "refresh-rotated-1" {
		t.Fatalf("refresh tokens presented: %d, rotated one used second: %v", len(ref.presented), len(ref.presented) == 2 && ref.presented[1] == "refresh-rotated-1")
	}
}

func testRefreshRejected(t *testing.T, b backend) {
	clk := newClock()
	ref := &fakeRefresher{clock: clk, err: errors.New("oidcflow: refresh refused: invalid_grant")}
	f := newFixture(t, b, Config{Now: clk.Now, Refresher: ref})
	ctx := t.Context()
	login := testLogin("rupert", clk.Now())
	login.Tokens.Obtained = clk.Now().Add(-time.Hour)
	login.Tokens.Expiry = clk.Now().Add(10 * time.Second)
	_, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.m.Load(ctx, request(ck))
	if !errors.Is(err, ErrRefreshFailed) || !errors.Is(err, ErrNoSession) || Reason(err) != ReasonRefreshFailed {
		t.Fatalf("Load with a refused refresh: %v, want ErrRefreshFailed", err)
	}
	if _, err := f.m.Load(ctx, request(ck)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after a refused refresh: %v, want ErrNotFound", err)
	}
}

// testRefreshTransient: after a transient refresh failure the session keeps
// working with its tokens, and requests during the backoff neither refresh
// nor wait for a refresh that is not running. RefreshWait is a minute, so
// a request that waited would take a minute, and the bound below (a
// third of it) tells waiting from a slow machine.
func testRefreshTransient(t *testing.T, b backend) {
	clk := newClock()
	ref := &fakeRefresher{clock: clk, err: fmt.Errorf("oidcflow: token endpoint: %w", ErrRefreshTransient)}
	const wait = time.Minute
	// The backoff is the refresh lock's TTL, in real time: a minute, so
	// it cannot run out between these loads.
	f := newFixture(t, b, Config{Now: clk.Now, Refresher: ref, RefreshWait: wait, RefreshLockTTL: time.Minute})
	ctx := t.Context()
	login := testLogin("sybil", clk.Now())
	login.Tokens.Expiry = clk.Now().Add(-time.Second) // expired: nothing to wait for
	_, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 3 {
		s, err := f.m.Load(ctx, request(ck))
		if err != nil {
			t.Fatalf("Load while the IdP is down: %v (the session must keep working)", err)
		}
		if s.Tokens.AccessToken != login.Tokens.AccessToken {
			t.Fatal("tokens changed after a failed refresh")
		}
	}
	if n := ref.calls.Load(); n != 1 {
		t.Errorf("Refresher called %d times during the backoff, want 1", n)
	}
	if d := time.Since(start); d > wait/3 {
		t.Errorf("loads during the backoff took %v; they must not wait for a refresh that is not running", d)
	}
}

// testRefreshUpdatesClaims: claims a refresh brings replace the
// session's (a group removed at the provider is gone); a refresh without
// claims keeps them.
func testRefreshUpdatesClaims(t *testing.T, b backend) {
	clk := newClock()
	ref := &fakeRefresher{clock: clk}
	f := newFixture(t, b, Config{Now: clk.Now, Refresher: ref})
	ctx := t.Context()
	login := testLogin("quinn", clk.Now())
	login.Claims.Groups = []string{"staff", "admins"}
	_, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	s, err := f.m.Load(ctx, request(ck)) // refresh without claims
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Claims.Groups, []string{"staff", "admins"}) || s.Tokens.AccessToken == login.Tokens.AccessToken {
		t.Fatalf("after a refresh without claims: groups %v, tokens renewed %v", s.Claims.Groups, s.Tokens.AccessToken != login.Tokens.AccessToken)
	}
	ref.groups = []string{"staff"}
	clk.Advance(50 * time.Minute)
	s, err = f.m.Load(ctx, request(ck))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Claims.Groups, []string{"staff"}) || s.Claims.Email != "refreshed@example.com" {
		t.Fatalf("after a refresh with claims: groups %v, email %q", s.Claims.Groups, s.Claims.Email)
	}
	if p := s.Principal(); !slices.Equal(p.Groups, []string{"staff"}) {
		t.Fatalf("principal groups %v after the refresh", p.Groups)
	}
}
