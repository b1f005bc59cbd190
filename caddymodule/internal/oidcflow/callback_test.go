package oidcflow

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"golang.org/x/oauth2"
)

// startLogin starts a login and returns the redirect.
func startLogin(t *testing.T, c *Client, opts LoginOptions) *Redirect {
	t.Helper()
	red, err := c.StartLogin(t.Context(), opts)
	if err != nil {
		t.Fatalf("StartLogin: %v", err)
	}
	return red
}

func TestLoginCallback(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	red := startLogin(t, c, LoginOptions{ReturnTo: "/app/orders?page=2#top"})

	if len(red.SetCookies) != 1 {
		t.Fatalf("StartLogin set %d cookies, want 1", len(red.SetCookies))
	}
	fc := red.SetCookies[0]
	if !strings.HasPrefix(fc.Name, "__Host-portcullis-flow-") || !fc.HttpOnly || !fc.Secure || fc.Path != "/" ||
		fc.Domain != "" || fc.SameSite != http.SameSiteLaxMode || fc.MaxAge != int(DefaultFlowTTL/time.Second) {
		t.Errorf("flow cookie attributes = %+v", fc)
	}
	q := idp.authorize(t, red.URL, "alice")
	for _, secret := range []string{q.Get("state")} {
		if strings.Contains(fc.Value, secret) {
			t.Error("the flow cookie holds the state in clear")
		}
	}
	u, _ := url.Parse(red.URL)
	if scope := u.Query().Get("scope"); scope != "openid email profile" {
		t.Errorf("scope = %q", scope)
	}

	res, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	l := res.Login
	if l.Subject != "alice" || l.Claims.Email != "alice@example.com" || l.Claims.Name != "User alice" ||
		l.Claims.ACR != "urn:mfa" || !slices.Equal(l.Claims.AMR, []string{"pwd", "otp"}) || l.Claims.SID != "sid-alice" ||
		l.Claims.Issuer != idp.issuer() || l.Claims.Raw["email"] != "alice@example.com" {
		t.Errorf("claims = %+v", l.Claims)
	}
	if want := []string{"staff", "ops", "admin", "viewer", "auditor"}; !slices.Equal(l.Claims.Groups, want) {
		t.Errorf("groups = %v, want %v", l.Claims.Groups, want)
	}
	if want := clk.Now().Add(-30 * time.Second); !l.Claims.AuthTime.Equal(want) {
		t.Errorf("auth_time = %v, want %v", l.Claims.AuthTime, want)
	}
	if l.Tokens.AccessToken == "" || l.Tokens.RefreshToken == "" || l.Tokens.IDToken == "" || l.Tokens.Expiry.IsZero() || !l.Tokens.Obtained.Equal(clk.Now()) {
		t.Errorf("tokens incomplete: expiry %v obtained %v", l.Tokens.Expiry, l.Tokens.Obtained)
	}
	if res.ReturnTo != "/app/orders?page=2#top" {
		t.Errorf("ReturnTo = %q", res.ReturnTo)
	}
	if len(res.SetCookies) != 1 || res.SetCookies[0].Name != fc.Name || res.SetCookies[0].MaxAge >= 0 {
		t.Errorf("callback does not clear the flow cookie: %+v", res.SetCookies)
	}
}

func TestStartLoginParameters(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Scopes = []string{"email", "offline_access"} })
	tests := []struct {
		name string
		opts LoginOptions
		want map[string]string // "" means absent
	}{
		{name: "plain", want: map[string]string{"prompt": "consent", "max_age": "", "acr_values": "", "scope": "openid email offline_access"}},
		{name: "step-up", opts: LoginOptions{MaxAge: 5 * time.Minute, ACRValues: []string{"urn:mfa", "urn:hwk"}, ForceLogin: true, LoginHint: "a@b.c"},
			want: map[string]string{"prompt": "consent login", "max_age": "300", "acr_values": "urn:mfa urn:hwk", "login_hint": "a@b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			red := startLogin(t, c, tt.opts)
			u, err := url.Parse(red.URL)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := u.Query().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestCallbackFailures covers forged, crossed, replayed, expired and
// otherwise broken callbacks: each fails with its typed error, and no
// error text repeats a code, state, token, cookie or provider detail.
func TestCallbackFailures(t *testing.T) {
	t.Parallel()
	type env struct {
		c     *Client
		idp   *fakeIdP
		clk   *fakeClock
		red   *Redirect
		query url.Values
		ck    []*http.Cookie
	}
	tests := []struct {
		name    string
		opts    LoginOptions
		setup   func(t *testing.T, e *env) // before authorize
		mutate  func(t *testing.T, e *env) // after authorize
		want    error
		method  string
		wantMsg string
	}{
		{name: "missing state", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) { e.query.Del("state") }},
		{name: "state of another flow", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) {
			other := startLogin(t, e.c, LoginOptions{})
			e.query.Set("state", idpState(t, other.URL))
		}},
		{name: "forged state", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) { e.query.Set("state", "forged") }},
		{name: "no flow cookie (login CSRF)", want: ErrFlowExpired, mutate: func(t *testing.T, e *env) { e.ck = nil }},
		{name: "tampered flow cookie", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) {
			ck := *e.ck[0]
			ck.Value = ck.Value[:len(ck.Value)-4] + "AAAA"
			e.ck = []*http.Cookie{&ck}
		}},
		{name: "flow cookie of another flow renamed", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) {
			other := startLogin(t, e.c, LoginOptions{})
			ck := *other.SetCookies[0]
			ck.Name = e.ck[0].Name
			e.ck = []*http.Cookie{&ck}
		}},
		{name: "flow cookie from another gateway key", want: ErrStateMismatch, mutate: func(t *testing.T, e *env) {
			foreign := newTestClient(t, e.idp, e.clk, nil)
			other := startLogin(t, foreign, LoginOptions{})
			e.query.Set("state", idpState(t, other.URL))
			e.ck = other.SetCookies // sealed with the other gateway's keys
		}},
		{name: "expired flow", want: ErrFlowExpired, mutate: func(t *testing.T, e *env) { e.clk.Advance(DefaultFlowTTL + time.Second) }},
		{name: "wrong PKCE verifier", want: ErrExchange, mutate: func(t *testing.T, e *env) {
			// The code was issued for this flow's challenge; present it with
			// another flow's state and cookie, hence that flow's verifier.
			other := startLogin(t, e.c, LoginOptions{})
			e.query.Set("state", idpState(t, other.URL))
			e.ck = other.SetCookies
		}},
		{name: "nonce mismatch", want: ErrNonceMismatch, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["nonce"] = "other-nonce" }
		}},
		{name: "nonce missing", want: ErrNonceMismatch, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { delete(c, "nonce") }
		}},
		{name: "wrong audience", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["aud"] = "someone-else" }
		}},
		{name: "wrong issuer", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["iss"] = "https://evil.example" }
		}},
		{name: "expired ID token", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["exp"] = e.clk.Now().Add(-time.Minute).Unix() }
		}},
		{name: "signed with a foreign key", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			foreign := newIdP(t, e.clk.Now)
			e.idp.signIDToken = func(c []byte) string { return oidctest.SignIDToken(foreign.key, testKID, oidc.ES256, string(c)) }
		}},
		{name: "HS256 with the client secret (alg confusion)", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.signIDToken = func(c []byte) string {
				return oidctest.SignIDToken([]byte(testClientSecret+testClientSecret), testKID, "HS256", string(c))
			}
		}},
		{name: "alg none", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.signIDToken = func(c []byte) string {
				enc := base64.RawURLEncoding.EncodeToString
				return enc([]byte(`{"alg":"none","kid":"k1"}`)) + "." + enc(c) + "."
			}
		}},
		{name: "at_hash mismatch", want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["at_hash"] = atHash("another-access-token") }
		}},
		{name: "max_age not honoured", opts: LoginOptions{MaxAge: 10 * time.Second}, want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { c["auth_time"] = e.clk.Now().Add(-time.Hour).Unix() }
		}},
		{name: "max_age without auth_time", opts: LoginOptions{MaxAge: time.Minute}, want: ErrIDToken, setup: func(t *testing.T, e *env) {
			e.idp.claimsHook = func(c map[string]any) { delete(c, "auth_time") }
		}},
		{name: "provider error", want: ErrProvider, wantMsg: "access_denied", mutate: func(t *testing.T, e *env) {
			e.query.Del("code")
			e.query.Set("error", "access_denied")
			e.query.Set("error_description", "secret-detail-must-not-leak")
		}},
		{name: "provider error junk", want: ErrProvider, wantMsg: "invalid", mutate: func(t *testing.T, e *env) {
			e.query.Set("error", "<script>alert(1)</script>")
		}},
		{name: "missing code", want: ErrExchange, mutate: func(t *testing.T, e *env) { e.query.Del("code") }},
		{name: "unknown code", want: ErrExchange, mutate: func(t *testing.T, e *env) { e.query.Set("code", "code-forged") }},
		{name: "token endpoint down", want: ErrUnavailable, setup: func(t *testing.T, e *env) { e.idp.tokenDown.Store(true) }},
		{name: "POST callback", want: ErrStateMismatch, method: http.MethodPost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{clk: newClock()}
			e.idp = newIdP(t, e.clk.Now)
			e.c = newTestClient(t, e.idp, e.clk, nil)
			e.red = startLogin(t, e.c, tt.opts)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			e.query = e.idp.authorize(t, e.red.URL, "bob")
			e.ck = e.red.SetCookies
			code, state := e.query.Get("code"), e.query.Get("state")
			if tt.mutate != nil {
				tt.mutate(t, e)
			}
			r := callbackRequest(e.query, e.ck)
			if tt.method != "" {
				r.Method = tt.method
			}
			res, err := e.c.Callback(t.Context(), r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Callback error = %v, want %v", err, tt.want)
			}
			if res == nil || res.Login.Subject != "" {
				t.Fatal("a failed callback returned a login")
			}
			msg := err.Error()
			if tt.wantMsg != "" && !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not mention %q", msg, tt.wantMsg)
			}
			for _, secret := range []string{code, state, testClientSecret, "secret-detail-must-not-leak", e.red.SetCookies[0].Value} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks a secret", msg)
				}
			}
			if Reason(err) == ReasonInternal {
				t.Errorf("Reason(%v) = internal", err)
			}
		})
	}
}

// idpState returns the state parameter of an authorization URL.
func idpState(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

// TestCallbackReplay: the same callback (same query, same cookie) works
// once; the flow is single use in the store, not only in the browser.
func TestCallbackReplay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	red := startLogin(t, c, LoginOptions{})
	q := idp.authorize(t, red.URL, "carol")
	if _, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies)); err != nil {
		t.Fatalf("first callback: %v", err)
	}
	_, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies))
	if !errors.Is(err, ErrFlowReplayed) || Reason(err) != ReasonFlowReplayed {
		t.Fatalf("replayed callback: %v, want ErrFlowReplayed", err)
	}
}

// TestCallbackConcurrentReplay: of concurrent deliveries of one callback,
// exactly one succeeds.
func TestCallbackConcurrentReplay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	red := startLogin(t, c, LoginOptions{})
	q := idp.authorize(t, red.URL, "dan")
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies))
			errs <- err
		}()
	}
	ok := 0
	for range 10 {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrFlowReplayed):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d callbacks succeeded, want 1", ok)
	}
}

// TestIdPChecksPKCE shows the fake provider refuses an exchange without
// or with a wrong code_verifier, so the PKCE tests above mean something.
func TestIdPChecksPKCE(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	cfg := &oauth2.Config{ClientID: testClientID, ClientSecret: testClientSecret, RedirectURL: testRedirectURL,
		Endpoint: oauth2.Endpoint{TokenURL: idp.issuer() + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tests := []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{name: "missing verifier"},
		{name: "wrong verifier", opts: []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			red := startLogin(t, c, LoginOptions{})
			q := idp.authorize(t, red.URL, "eve")
			if _, err := cfg.Exchange(context.Background(), q.Get("code"), tt.opts...); err == nil {
				t.Fatal("the provider accepted the exchange")
			}
		})
	}
}

func TestStartLoginUnsafeReturnTo(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.Cookie.Insecure = true })
	red := startLogin(t, c, LoginOptions{ReturnTo: "//evil.example/phish"})
	if fc := red.SetCookies[0]; fc.Secure || !strings.HasPrefix(fc.Name, "portcullis-flow-") || !fc.HttpOnly {
		t.Errorf("insecure flow cookie = %+v", fc)
	}
	res, err := c.Callback(t.Context(), callbackRequest(idp.authorize(t, red.URL, "zoe"), red.SetCookies))
	if err != nil {
		t.Fatal(err)
	}
	if res.ReturnTo != "/" {
		t.Fatalf("ReturnTo = %q, want /", res.ReturnTo)
	}
}

// TestParallelFlows: logins started in two tabs each complete, in either
// order (one flow cookie per flow).
func TestParallelFlows(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	a := startLogin(t, c, LoginOptions{ReturnTo: "/a"})
	b := startLogin(t, c, LoginOptions{ReturnTo: "/b"})
	jar := append(append([]*http.Cookie{}, a.SetCookies...), b.SetCookies...)
	for _, tc := range []struct {
		red  *Redirect
		want string
	}{{b, "/b"}, {a, "/a"}} {
		res, err := c.Callback(t.Context(), callbackRequest(idp.authorize(t, tc.red.URL, "yves"), jar))
		if err != nil || res.ReturnTo != tc.want {
			t.Fatalf("Callback = %v, %v; want return to %s", res, err, tc.want)
		}
	}
}
