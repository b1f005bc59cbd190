package authserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
)

// TestConformance runs the suite on the in-memory store and on a real
// Redis server: both must behave the same.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, mk := range []func(*testing.T) backend{memoryBackend, redisBackend} {
		b := mk(t)
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				name string
				fn   func(t *testing.T, b backend, prefix string)
			}{
				{"CodeExchange", testCodeExchange},
				{"CodeReplayRevokes", testCodeReplayRevokes},
				{"CodeBindings", testCodeBindings},
				{"CodeExpires", testCodeExpires},
				{"CodeRaceOneWinner", testCodeRace},
				{"RefreshRotates", testRefreshRotates},
				{"RefreshReuseRevokes", testRefreshReuse},
				{"RefreshRaceOneWinner", testRefreshRace},
				{"RefreshBindings", testRefreshBindings},
				{"Revoke", testRevoke},
				{"Consent", testConsent},
				{"SharedGeneratedKey", testSharedKey},
				{"NothingSecretStored", testNothingSecretStored},
			} {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, b, "t"+randomHex())
				})
			}
		})
	}
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wantErr checks that err is an *Error with the code and reason.
func wantErr(t *testing.T, what string, err error, code, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code || e.Reason != reason {
		t.Fatalf("%s: got %v, want %s (%s)", what, err, code, reason)
	}
}

// verify checks an access token with the server's published keys and
// returns its claims.
func verify(t *testing.T, s *Server, token string) map[string]any {
	t.Helper()
	raw, err := s.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "at+jwt" {
		t.Fatalf("typ %q, want at+jwt", typ)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q is not published", tok.Headers[0].KeyID)
	}
	claims := map[string]any{}
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims
}

func testCodeExchange(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	s := newServer(t, b.open(t), clock, prefix)
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 600 || tok.RefreshToken == "" || tok.Scope != "tools:read" {
		t.Fatalf("token response %+v", tok)
	}
	c := verify(t, s, tok.AccessToken)
	now := float64(clock.Now().Unix())
	for k, want := range map[string]any{"iss": testIssuer, "sub": "idp:alice", "aud": testResource, "client_id": testClient,
		"scope": "tools:read", "acr": "mfa", "iat": now, "exp": now + 600} {
		if c[k] != want {
			t.Errorf("claim %s = %v, want %v", k, c[k], want)
		}
	}
	if amr, _ := c["amr"].([]any); len(amr) != 2 || c["jti"] == "" {
		t.Errorf("amr %v jti %v", c["amr"], c["jti"])
	}
}

func testCodeReplayRevokes(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	_, err = exchange(s, code)
	wantErr(t, "replayed code", err, "invalid_grant", "code_replayed")
	_, _, err = s.Refresh(context.Background(), RefreshRequest{Token: tok.RefreshToken, ClientID: testClient})
	wantErr(t, "refresh after code replay", err, "invalid_grant", "refresh_token_unknown")
}

func testCodeBindings(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	for _, c := range []struct {
		name   string
		x      func(*CodeExchange)
		code   string
		reason string
	}{
		{"wrong verifier", func(x *CodeExchange) { x.Verifier = testVerifier + "x" }, "invalid_grant", "pkce_mismatch"},
		{"no verifier", func(x *CodeExchange) { x.Verifier = "" }, "invalid_grant", "pkce_mismatch"},
		{"other client", func(x *CodeExchange) { x.ClientID = "https://evil.example.com/meta.json" }, "invalid_grant", "code_client_mismatch"},
		{"other redirect_uri", func(x *CodeExchange) { x.RedirectURI = "http://127.0.0.1:7777/other" }, "invalid_grant", "redirect_uri_mismatch"},
		{"other resource", func(x *CodeExchange) { x.Resource = otherRes }, "invalid_target", "resource_mismatch"},
		{"unknown code", func(x *CodeExchange) { x.Code = "nope" }, "invalid_grant", "code_unknown"},
	} {
		_, code := authorized(t, s)
		x := CodeExchange{Code: code, ClientID: testClient, RedirectURI: testRedirect, Verifier: testVerifier, Resource: testResource}
		c.x(&x)
		_, _, err := s.Exchange(context.Background(), x)
		wantErr(t, c.name, err, c.code, c.reason)
		if x.Code == code {
			// The code is spent even by a failed attempt.
			_, err = exchange(s, code)
			wantErr(t, c.name+", then the right request", err, "invalid_grant", "code_replayed")
		}
	}
}

func testCodeExpires(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	s := newServer(t, b.open(t), clock, prefix)
	_, code := authorized(t, s)
	clock.Advance(DefaultCodeLifetime + time.Second)
	_, err := exchange(s, code)
	wantErr(t, "expired code", err, "invalid_grant", "code_expired")
}

func testCodeRace(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	replicas := []*Server{newServer(t, b.open(t), clock, prefix), newServer(t, b.open(t), clock, prefix)}
	_, code := authorized(t, replicas[0])
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Go(func() { _, results[i] = exchange(replicas[i%2], code) })
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		} else {
			wantErr(t, "a losing redemption", err, "invalid_grant", "code_replayed")
		}
	}
	if ok != 1 {
		t.Fatalf("%d redemptions of one code succeeded, want exactly 1", ok)
	}
}

func testRefreshRotates(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	s := newServer(t, b.open(t), clock, prefix)
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	next, g, err := s.Refresh(context.Background(), RefreshRequest{Token: tok.RefreshToken, ClientID: testClient, Resource: testResource})
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == tok.RefreshToken || next.RefreshToken == "" || g.Identity.Subject != "idp:alice" {
		t.Fatalf("refresh did not rotate: %+v", next)
	}
	c := verify(t, s, next.AccessToken)
	if c["iat"] != float64(clock.Now().Unix()) || c["scope"] != "tools:read" {
		t.Fatalf("refreshed claims %v", c)
	}
	// The new token works in turn.
	if _, _, err := s.Refresh(context.Background(), RefreshRequest{Token: next.RefreshToken, ClientID: testClient}); err != nil {
		t.Fatal(err)
	}
}

func testRefreshReuse(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := s.Refresh(context.Background(), RefreshRequest{Token: tok.RefreshToken, ClientID: testClient})
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := s.Refresh(context.Background(), RefreshRequest{Token: tok.RefreshToken, ClientID: testClient})
	wantErr(t, "replayed refresh token", err, "invalid_grant", ReasonRefreshReused)
	if g == nil || g.ClientID != testClient {
		t.Fatalf("reuse did not report the grant: %+v", g)
	}
	_, _, err = s.Refresh(context.Background(), RefreshRequest{Token: next.RefreshToken, ClientID: testClient})
	wantErr(t, "the current token after reuse", err, "invalid_grant", "refresh_token_unknown")
}

func testRefreshRace(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	replicas := []*Server{newServer(t, b.open(t), clock, prefix), newServer(t, b.open(t), clock, prefix)}
	_, code := authorized(t, replicas[0])
	tok, err := exchange(replicas[0], code)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			_, _, results[i] = replicas[i%2].Refresh(context.Background(), RefreshRequest{Token: tok.RefreshToken, ClientID: testClient})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes with one token succeeded, want exactly 1: %v", ok, results)
	}
}

func testRefreshBindings(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _, err = s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken, ClientID: "https://evil.example.com/meta.json"})
	wantErr(t, "another client", err, "invalid_grant", "refresh_client_mismatch")
	_, _, err = s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken, ClientID: testClient, Resource: otherRes})
	wantErr(t, "another resource", err, "invalid_target", "resource_mismatch")
	_, _, err = s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken, ClientID: testClient, Scopes: []string{"tools:deploy"}})
	wantErr(t, "a scope not granted", err, "invalid_scope", "scope_not_granted")
	_, _, err = s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken + "x", ClientID: testClient})
	wantErr(t, "a forged secret", err, "invalid_grant", "refresh_token_unknown")
	// None of these spent the token.
	if _, _, err := s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken, ClientID: testClient}); err != nil {
		t.Fatal(err)
	}
}

func testRevoke(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	ctx := context.Background()
	_, code := authorized(t, s)
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := s.Revoke(ctx, tok.RefreshToken, "https://evil.example.com/meta.json"); err != nil || g != nil {
		t.Fatalf("another client revoked the token: %v %v", g, err)
	}
	if g, err := s.Revoke(ctx, tok.AccessToken, testClient); err != nil || g != nil {
		t.Fatalf("revoking an access token: %v %v", g, err)
	}
	if g, err := s.Revoke(ctx, tok.RefreshToken, testClient); err != nil || g == nil {
		t.Fatalf("revoke: %v %v", g, err)
	}
	_, _, err = s.Refresh(ctx, RefreshRequest{Token: tok.RefreshToken, ClientID: testClient})
	wantErr(t, "a revoked token", err, "invalid_grant", "refresh_token_unknown")
}

func testConsent(t *testing.T, b backend, prefix string) {
	s := newServer(t, b.open(t), fakeclock.New(), prefix)
	ctx := context.Background()
	scopes := []string{"tools:read", "tools:deploy"}
	if ok, err := s.HasConsent(ctx, "idp:alice", testClient, testResource, scopes); err != nil || ok {
		t.Fatalf("consent before any: %v %v", ok, err)
	}
	if err := s.RememberConsent(ctx, "idp:alice", testClient, testResource, scopes); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, sub, client, res string
		scopes                 []string
		want                   bool
	}{
		{"same set, other order", "idp:alice", testClient, testResource, []string{"tools:deploy", "tools:read"}, true},
		{"fewer scopes", "idp:alice", testClient, testResource, []string{"tools:read"}, false},
		{"other user", "idp:bob", testClient, testResource, scopes, false},
		{"other client", "idp:alice", "https://evil.example.com/meta.json", testResource, scopes, false},
		{"other resource", "idp:alice", testClient, otherRes, scopes, false},
	} {
		if ok, err := s.HasConsent(ctx, c.sub, c.client, c.res, c.scopes); err != nil || ok != c.want {
			t.Errorf("%s: consent %v (%v), want %v", c.name, ok, err, c.want)
		}
	}
}

func testSharedKey(t *testing.T, b backend, prefix string) {
	clock := fakeclock.New()
	a, c := newServer(t, b.open(t), clock, prefix), newServer(t, b.open(t), clock, prefix)
	var wg sync.WaitGroup
	var ka, kc []byte
	var ea, ec error
	wg.Go(func() { ka, ea = a.JWKS(context.Background()) })
	wg.Go(func() { kc, ec = c.JWKS(context.Background()) })
	wg.Wait()
	if ea != nil || ec != nil {
		t.Fatalf("JWKS: %v, %v", ea, ec)
	}
	if len(ka) == 0 || string(ka) != string(kc) {
		t.Fatalf("replicas publish different keys:\n%s\n%s", ka, kc)
	}
	_, code := authorized(t, a)
	tok, err := exchange(a, code)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, c, tok.AccessToken) // signed by one replica, verified with the other's set
}

// testNothingSecretStored: no code or refresh token appears in the store.
func testNothingSecretStored(t *testing.T, b backend, prefix string) {
	st := b.open(t)
	s := newServer(t, st, fakeclock.New(), prefix)
	_, code := authorized(t, s)
	if _, err := st.Get(context.Background(), s.codeKey(code)); err != nil {
		t.Fatal(err)
	}
	tok, err := exchange(s, code)
	if err != nil {
		t.Fatal(err)
	}
	gid, secret, _ := cutDot(tok.RefreshToken)
	raw, err := st.Get(context.Background(), s.grantKey(gid))
	if err != nil {
		t.Fatal(err)
	}
	if containsStr(string(raw), secret) || containsStr(string(raw), code) {
		t.Fatal("a secret is stored in clear")
	}
}
