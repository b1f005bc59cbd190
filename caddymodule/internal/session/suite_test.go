package session

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestConformance runs the session suite on every store: memory,
// miniredis, a real standalone Redis and a real three-node Cluster.
func TestConformance(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name string
		make func(t *testing.T) backend
	}{
		{"memory", memoryBackend},
		{"miniredis", func(t *testing.T) backend {
			mr := runMiniredis(t)
			return backend{"miniredis", redisOpener(store.RedisConfig{URL: "redis://" + mr.Addr() + "/0"})}
		}},
		{"redis", func(t *testing.T) backend {
			return backend{"redis", redisOpener(store.RedisConfig{URL: redistest.SharedStandalone(t).URL()})}
		}},
		{"cluster", func(t *testing.T) backend {
			return backend{"cluster", redisOpener(store.RedisConfig{Addrs: redistest.SharedCluster(t).Addrs(), Cluster: true})}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			runSuite(t, b.make(t))
		})
	}
}

// runSuite runs every check of the suite on b, in parallel.
func runSuite(t *testing.T, b backend) {
	checks := []struct {
		name string
		fn   func(t *testing.T, b backend)
	}{
		{"CreateLoad", testCreateLoad},
		{"NewIDEveryLogin", testNewIDEveryLogin},
		{"OpaqueAtRest", testOpaqueAtRest},
		{"Logout", testLogout},
		{"IdleTimeout", testIdleTimeout},
		{"AbsoluteTimeout", testAbsoluteTimeout},
		{"RememberMe", testRememberMe},
		{"TouchThrottle", testTouchThrottle},
		{"KeyRotation", testKeyRotation},
		{"DeleteSubject", testDeleteSubject},
		{"BackchannelLogout", testBackchannelLogout},
		{"RefreshOnceAcrossReplicas", func(t *testing.T, b backend) { testRefreshOnce(t, b, 10*time.Second) }},
		{"RefreshOnceExpiredToken", func(t *testing.T, b backend) { testRefreshOnce(t, b, -time.Second) }},
		{"RefreshRotatesToken", testRefreshRotates},
		{"RefreshRejected", testRefreshRejected},
		{"RefreshTransient", testRefreshTransient},
		{"RefreshUpdatesClaims", testRefreshUpdatesClaims},
		{"Atomic", testAtomic},
		{"DecodedRecordFollowsStore", testDecodedRecordFollowsStore},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, b)
		})
	}
}

func testCreateLoad(t *testing.T, b backend) {
	clk := newClock()
	f := newFixture(t, b, Config{Now: clk.Now})
	ctx := t.Context()
	login := testLogin("alice", clk.Now())
	created, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if ck.Name != DefaultCookieName || !ck.HttpOnly || !ck.Secure || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie attributes = %+v", ck)
	}
	if want := int(DefaultAbsoluteTimeout / time.Second); ck.MaxAge != want {
		t.Errorf("cookie MaxAge = %d, want %d", ck.MaxAge, want)
	}
	s, err := f.m.Load(ctx, request(ck))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.IDHash != created.IDHash || s.Subject != "alice" || s.Claims.Email != login.Claims.Email || s.Tokens != login.Tokens {
		t.Errorf("loaded session %+v differs from created %+v", s, created)
	}
	if !s.Expires.Equal(clk.Now().Add(DefaultAbsoluteTimeout)) || !s.IdleExpires.Equal(clk.Now().Add(DefaultIdleTimeout)) {
		t.Errorf("Expires = %v, IdleExpires = %v", s.Expires, s.IdleExpires)
	}
	p := s.Principal()
	if p.Subject != "alice" || p.Method != "session" || p.ACR != "urn:acr:mfa" || len(p.AMR) != 2 || p.SessionID != s.IDHash || !p.AuthTime.Equal(login.Claims.AuthTime) {
		t.Errorf("Principal = %+v", p)
	}
	if info := s.Info(); info.Subject != "alice" || info.Email != login.Claims.Email {
		t.Errorf("Info = %+v", info)
	}
	if _, err := f.m.Load(ctx, request()); !errors.Is(err, ErrNoCookie) || !errors.Is(err, ErrNoSession) {
		t.Errorf("Load without cookie: %v, want ErrNoCookie", err)
	}
}

func testNewIDEveryLogin(t *testing.T, b backend) {
	f := newFixture(t, b, Config{})
	ctx := t.Context()
	s1, c1, err := f.m.Create(ctx, testLogin("bob", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	s2, c2, err := f.m.Create(ctx, testLogin("bob", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if s1.IDHash == s2.IDHash || c1.Value == c2.Value {
		t.Fatal("two logins got the same session")
	}
	for _, c := range []*http.Cookie{c1, c2} {
		if _, err := f.m.Load(ctx, request(c)); err != nil {
			t.Errorf("Load: %v", err)
		}
	}
}

func testOpaqueAtRest(t *testing.T, b backend) {
	f := newFixture(t, b, Config{})
	ctx := t.Context()
	login := testLogin("carol-"+fmt.Sprint(time.Now().UnixNano()), time.Now())
	s, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.m.DecodeTicket(ck.Value)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"session id": id, "access token": login.Tokens.AccessToken, "refresh token": login.Tokens.RefreshToken,
		"id token": login.Tokens.IDToken, "subject": login.Subject, "email": login.Claims.Email, "sid": login.Claims.SID,
	}
	for what, v := range secrets {
		if f.spy.contains(v) {
			t.Errorf("the store received the %s in clear", what)
		}
	}
	if !f.spy.contains(s.IDHash) {
		t.Error("the store key does not derive from the id hash")
	}
	for _, tok := range []string{login.Tokens.AccessToken, login.Tokens.RefreshToken, id} {
		if strings.Contains(ck.Value, tok) {
			t.Error("the cookie holds a secret in clear")
		}
	}
}

func testLogout(t *testing.T, b backend) {
	cfg := Config{Keys: [][]byte{testKey()}, KeyPrefix: "lo-" + fmt.Sprint(time.Now().UnixNano())}
	f, other := newFixture(t, b, cfg), newFixture(t, b, cfg)
	ctx := t.Context()
	login := testLogin("dave", time.Now())
	_, ck, err := f.m.Create(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.m.Load(ctx, request(ck)); err != nil {
		t.Fatalf("Load on another replica before logout: %v", err)
	}
	s, clear, err := f.m.Logout(ctx, request(ck))
	if err != nil || s == nil {
		t.Fatalf("Logout = %v, %v", s, err)
	}
	if s.Tokens.IDToken != login.Tokens.IDToken {
		t.Error("Logout did not return the ID token for id_token_hint")
	}
	if clear.Name != ck.Name || clear.MaxAge >= 0 || clear.Value != "" {
		t.Errorf("clear cookie = %+v", clear)
	}
	// Another replica, which decoded the session a moment ago, sees the
	// logout at once: what it remembers is used only for the same bytes.
	if _, err := other.m.Load(ctx, request(ck)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after logout on another replica: %v, want ErrNotFound", err)
	}
	if s, _, err := f.m.Logout(ctx, request(ck)); s != nil || err != nil {
		t.Errorf("second Logout = %v, %v; want nil, nil", s, err)
	}
}

func testIdleTimeout(t *testing.T, b backend) {
	clk := newClock()
	f := newFixture(t, b, Config{Now: clk.Now, IdleTimeout: 10 * time.Minute, AbsoluteTimeout: time.Hour})
	ctx := t.Context()
	_, ck, err := f.m.Create(ctx, testLogin("erin", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // used every 9 minutes: the idle timeout slides
		clk.Advance(9 * time.Minute)
		if _, err := f.m.Load(ctx, request(ck)); err != nil {
			t.Fatalf("Load %d: %v", i, err)
		}
	}
	clk.Advance(10 * time.Minute)
	_, err = f.m.Load(ctx, request(ck))
	if !errors.Is(err, ErrExpired) || Reason(err) != ReasonIdleTimeout {
		t.Fatalf("Load after idle timeout: %v (reason %q), want ErrExpired/idle", err, Reason(err))
	}
	if _, err := f.m.Load(ctx, request(ck)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Load after expiry: %v", err)
	}
}

func testAbsoluteTimeout(t *testing.T, b backend) {
	clk := newClock()
	f := newFixture(t, b, Config{Now: clk.Now, IdleTimeout: 10 * time.Minute, AbsoluteTimeout: 30 * time.Minute})
	ctx := t.Context()
	created, ck, err := f.m.Create(ctx, testLogin("frank", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		clk.Advance(5 * time.Minute)
		s, err := f.m.Load(ctx, request(ck))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !s.Expires.Equal(created.Expires) || s.IdleExpires.After(created.Expires) {
			t.Fatalf("absolute expiry moved: %v -> %v (idle %v)", created.Expires, s.Expires, s.IdleExpires)
		}
	}
	clk.Advance(5 * time.Minute) // 30 minutes after login
	_, err = f.m.Load(ctx, request(ck))
	if !errors.Is(err, ErrExpired) || Reason(err) != ReasonAbsoluteTimeout {
		t.Fatalf("Load at the absolute timeout: %v (reason %q)", err, Reason(err))
	}
}

func testTouchThrottle(t *testing.T, b backend) {
	clk := newClock()
	f := newFixture(t, b, Config{Now: clk.Now}) // idle 1h: touch every 30s
	ctx := t.Context()
	_, ck, err := f.m.Create(ctx, testLogin("grace", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	load := func(n int) {
		t.Helper()
		for range n {
			if _, err := f.m.Load(ctx, request(ck)); err != nil {
				t.Fatalf("Load: %v", err)
			}
		}
	}
	steps := []struct {
		advance time.Duration
		loads   int
		swaps   int64
	}{
		{0, 100, 0},
		{20 * time.Second, 50, 0},
		{15 * time.Second, 50, 1}, // 35s after the last write: one touch
		{10 * time.Second, 50, 1},
		{25 * time.Second, 50, 2},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		load(s.loads)
		if got := f.atomic.swaps.Load(); got != s.swaps {
			t.Fatalf("step %d: %d store writes, want %d", i, got, s.swaps)
		}
	}
	s, err := f.m.Load(ctx, request(ck))
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Hour); !s.IdleExpires.Equal(want) {
		t.Errorf("IdleExpires = %v, want %v", s.IdleExpires, want)
	}
}

func testKeyRotation(t *testing.T, b backend) {
	clk := newClock()
	oldKey, newKey := testKey(), testKey()
	prefix := "rot-" + fmt.Sprint(time.Now().UnixNano())
	before := newFixture(t, b, Config{Now: clk.Now, Keys: [][]byte{oldKey}, KeyPrefix: prefix})
	during := newFixture(t, b, Config{Now: clk.Now, Keys: [][]byte{newKey, oldKey}, KeyPrefix: prefix})
	after := newFixture(t, b, Config{Now: clk.Now, Keys: [][]byte{newKey}, KeyPrefix: prefix})
	ctx := t.Context()

	_, oldCookie, err := before.m.Create(ctx, testLogin("heidi", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := during.m.Load(ctx, request(oldCookie)); err != nil {
		t.Fatalf("old cookie with both keys: %v", err)
	}
	if _, err := after.m.Load(ctx, request(oldCookie)); !errors.Is(err, ErrInvalidCookie) {
		t.Fatalf("old cookie after the old key was dropped: %v, want ErrInvalidCookie", err)
	}
	_, newCookie, err := during.m.Create(ctx, testLogin("heidi", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.m.Load(ctx, request(newCookie)); err != nil {
		t.Fatalf("new cookie with only the new key: %v (new cookies must use the first key)", err)
	}
	if _, err := before.m.Load(ctx, request(newCookie)); !errors.Is(err, ErrInvalidCookie) {
		t.Fatalf("new cookie with only the old key: %v, want ErrInvalidCookie", err)
	}
	// A record sealed under a dropped key does not open.
	id, err := before.m.DecodeTicket(oldCookie.Value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.m.LoadID(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("record sealed with a dropped key: %v, want ErrNotFound", err)
	}
	// A touch with both keys re-seals it under the new key.
	clk.Advance(time.Minute)
	if _, err := during.m.Load(ctx, request(oldCookie)); err != nil {
		t.Fatal(err)
	}
	if _, err := after.m.LoadID(ctx, id); err != nil {
		t.Fatalf("record after a touch with the new key first: %v", err)
	}
}

func testDeleteSubject(t *testing.T, b backend) {
	f := newFixture(t, b, Config{})
	ctx := t.Context()
	var ivan []*http.Cookie
	for range 3 {
		_, ck, err := f.m.Create(ctx, testLogin("ivan", time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		ivan = append(ivan, ck)
	}
	_, judy, err := f.m.Create(ctx, testLogin("judy", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := f.m.SubjectTokens(ctx, "ivan")
	if err != nil || len(toks) != 3 {
		t.Fatalf("SubjectTokens = %d tokens, %v; want 3", len(toks), err)
	}
	for _, tok := range toks {
		if tok.RefreshToken == "" {
			t.Errorf("SubjectTokens returned a session without its refresh token")
		}
	}
	if toks, err := f.m.SubjectTokens(ctx, "nobody"); len(toks) != 0 || err != nil {
		t.Errorf("SubjectTokens(nobody) = %d, %v", len(toks), err)
	}
	n, err := f.m.DeleteSubject(ctx, "ivan")
	if err != nil || n != 3 {
		t.Fatalf("DeleteSubject = %d, %v; want 3", n, err)
	}
	for _, ck := range ivan {
		if _, err := f.m.Load(ctx, request(ck)); !errors.Is(err, ErrNotFound) {
			t.Errorf("ivan's session after DeleteSubject: %v", err)
		}
	}
	if _, err := f.m.Load(ctx, request(judy)); err != nil {
		t.Errorf("judy's session: %v", err)
	}
	if n, err := f.m.DeleteSubject(ctx, "nobody"); n != 0 || err != nil {
		t.Errorf("DeleteSubject(nobody) = %d, %v", n, err)
	}
}

func testBackchannelLogout(t *testing.T, b backend) {
	f := newFixture(t, b, Config{})
	ctx := t.Context()
	create := func(sid string) *http.Cookie {
		l := testLogin("mallory", time.Now())
		l.Claims.SID = sid
		_, ck, err := f.m.Create(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	a1, a2, other := create("sid-a"), create("sid-a"), create("sid-b")
	n, err := f.m.BackchannelLogout(ctx, "mallory", "sid-a")
	if err != nil || n != 2 {
		t.Fatalf("BackchannelLogout(sid-a) = %d, %v; want 2", n, err)
	}
	for _, ck := range []*http.Cookie{a1, a2} {
		if _, err := f.m.Load(ctx, request(ck)); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of the logged-out IdP session: %v", err)
		}
	}
	if _, err := f.m.Load(ctx, request(other)); err != nil {
		t.Fatalf("session of another IdP session: %v", err)
	}
	if _, err := f.m.BackchannelLogout(ctx, "mallory", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Load(ctx, request(other)); !errors.Is(err, ErrNotFound) {
		t.Errorf("session after logout by sub: %v", err)
	}
	if _, err := f.m.BackchannelLogout(ctx, "", ""); err == nil {
		t.Error("BackchannelLogout without sub and sid succeeded")
	}
}

// testDecodedRecordFollowsStore shows a replica's memory of decoded
// records never hides a change another replica made in the store.
func testDecodedRecordFollowsStore(t *testing.T, b backend) {
	clk := newClock()
	cfg := Config{Keys: [][]byte{testKey()}, KeyPrefix: "dr-" + fmt.Sprint(time.Now().UnixNano()), Now: clk.Now,
		IdleTimeout: time.Hour, TouchInterval: time.Minute}
	a, other := newFixture(t, b, cfg), newFixture(t, b, cfg)
	ctx := t.Context()
	created, ck, err := a.m.Create(ctx, testLogin("grace", clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if s, err := other.m.Load(ctx, request(ck)); err != nil || !s.LastSeen.Equal(created.LastSeen) {
			t.Fatalf("Load = %v, %v", s, err)
		}
	}
	// a touches the record; other must read the new last-seen time.
	clk.Advance(2 * time.Minute)
	touched, err := a.m.Load(ctx, request(ck))
	if err != nil || !touched.LastSeen.Equal(clk.Now()) {
		t.Fatalf("Load after the touch interval = %v, %v; want last seen now", touched, err)
	}
	s, err := other.m.Load(ctx, request(ck))
	if err != nil || !s.LastSeen.Equal(touched.LastSeen) {
		t.Fatalf("other replica after a touch: %v, %v; want last seen %v", s, err, touched.LastSeen)
	}
	// Bytes in the store that do not open are refused, even for a key
	// whose earlier bytes were decoded.
	key := other.m.keys.session(created.IDHash)
	if err := other.store.Set(ctx, key, []byte("\x01tampered record bytes, not a sealed record"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := other.m.Load(ctx, request(ck)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a tampered record: %v, want ErrNotFound", err)
	}
}
