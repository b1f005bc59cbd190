package oidcflow

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// TestRevokeTokensAuthStyles: the revocation request (RFC 7009) carries
// the refresh token (or the access token) with its hint and the client's
// authentication in the style the provider supports: HTTP Basic with
// the form-encoded id and secret, client_secret_post when it lists only
// that, or just client_id for a public client. The token endpoint uses
// the same style.
func TestRevokeTokensAuthStyles(t *testing.T) {
	t.Parallel()
	const oddSecret = "p@ss:w/rd+ü %&="
	tests := []struct {
		name      string
		methods   []string
		secret    string // the client's; the provider's matches
		tokens    session.Tokens
		wantToken string
		wantHint  string
		wantAuth  string
		wantBasic string // the decoded Basic credentials, as sent
	}{
		{name: "basic, refresh token", methods: []string{"client_secret_basic"}, secret: testClientSecret,
			tokens: session.Tokens{AccessToken: "at-1", RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token",
			wantAuth: "client_secret_basic", wantBasic: testClientID + ":" + testClientSecret},
		{name: "basic, access token only", methods: []string{"client_secret_basic"}, secret: testClientSecret,
			tokens: session.Tokens{AccessToken: "at-1"}, wantToken: "at-1", wantHint: "access_token",
			wantAuth: "client_secret_basic", wantBasic: testClientID + ":" + testClientSecret},
		{name: "basic, secret with reserved characters is form-encoded", methods: []string{"client_secret_basic"}, secret: oddSecret,
			tokens: session.Tokens{RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token",
			wantAuth: "client_secret_basic", wantBasic: testClientID + ":p%40ss%3Aw%2Frd%2B%C3%BC+%25%26%3D"},
		{name: "basic when both are listed", methods: []string{"client_secret_post", "client_secret_basic"}, secret: testClientSecret,
			tokens: session.Tokens{RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token",
			wantAuth: "client_secret_basic", wantBasic: testClientID + ":" + testClientSecret},
		{name: "basic when nothing is listed", secret: testClientSecret,
			tokens: session.Tokens{RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token",
			wantAuth: "client_secret_basic", wantBasic: testClientID + ":" + testClientSecret},
		{name: "client_secret_post only", methods: []string{"client_secret_post"}, secret: oddSecret,
			tokens: session.Tokens{RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token", wantAuth: "client_secret_post"},
		{name: "public client", methods: []string{"none"}, secret: "",
			tokens: session.Tokens{AccessToken: "at-1", RefreshToken: "rt-1"}, wantToken: "rt-1", wantHint: "refresh_token", wantAuth: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.authMethods, idp.clientSecret = tt.methods, tt.secret
			if tt.methods == nil {
				idp.authMethods = []string{"client_secret_basic"}                                                 // what the fake accepts…
				idp.discoveryEdit = func(d map[string]any) { delete(d, "token_endpoint_auth_methods_supported") } // …but does not say
			}
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClientSecret, cfg.OnProblem = tt.secret, log.add })

			// The token endpoint takes the same authentication.
			if _, err := tryLogin(t, c, idp, "alice"); err != nil {
				t.Fatalf("login: %v", err)
			}
			if got := idp.tokenAuths(); len(got) != 1 || got[0] != tt.wantAuth {
				t.Errorf("token endpoint authentication = %v, want %s", got, tt.wantAuth)
			}

			ok, err := c.RevokeTokens(t.Context(), tt.tokens)
			if err != nil || !ok {
				t.Fatalf("RevokeTokens = %v, %v", ok, err)
			}
			rs := idp.revoked()
			if len(rs) != 1 {
				t.Fatalf("%d revocation requests", len(rs))
			}
			r := rs[0]
			if r.token != tt.wantToken || r.hint != tt.wantHint || r.auth != tt.wantAuth || !r.authOK {
				t.Fatalf("revocation = %+v", r)
			}
			if got := len(r.form["token"]); got != 1 {
				t.Errorf("%d token parameters", got)
			}
			switch tt.wantAuth {
			case "client_secret_basic":
				raw, _ := strings.CutPrefix(r.authorization, "Basic ")
				dec, err := base64.StdEncoding.DecodeString(raw)
				if err != nil || string(dec) != tt.wantBasic {
					t.Errorf("Basic credentials = %q, want %q", dec, tt.wantBasic)
				}
				if r.form.Has("client_secret") || r.form.Has("client_id") {
					t.Error("credentials in the body as well")
				}
			case "client_secret_post":
				if r.authorization != "" || r.form.Get("client_id") != testClientID || r.form.Get("client_secret") != tt.secret {
					t.Errorf("client_secret_post request: authorization %v, secret in form %v", r.authorization != "", r.form.Has("client_secret"))
				}
			case "none":
				if r.authorization != "" || r.form.Get("client_id") != testClientID || r.form.Has("client_secret") {
					t.Errorf("public client request: authorization %v, form keys %v", r.authorization != "", len(r.form))
				}
			}
			if ps := log.all(); len(ps) != 0 {
				t.Errorf("problems = %+v", ps)
			}
		})
	}
}

// TestRevokeTokensRevokes: after revocation the provider refuses the
// refresh token, so the session's refresh ends with ErrRefreshRefused.
func TestRevokeTokensRevokes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	res := login(t, c, idp, "alice")
	if ok, err := c.RevokeTokens(t.Context(), res.Login.Tokens); !ok || err != nil {
		t.Fatalf("RevokeTokens = %v, %v", ok, err)
	}
	_, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: res.Login.Tokens, Claims: res.Login.Claims})
	if !errors.Is(err, ErrRefreshRefused) || errors.Is(err, session.ErrRefreshTransient) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

// TestRevokeTokensNothingToDo: disabled, no endpoint or no token is
// (false, nil) without a request.
func TestRevokeTokensNothingToDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		disable       bool
		noEndpoint    bool
		tokens        session.Tokens
		wantDiscovery bool
	}{
		{name: "disabled", disable: true, tokens: session.Tokens{RefreshToken: "rt"}},
		{name: "no endpoint", noEndpoint: true, tokens: session.Tokens{RefreshToken: "rt"}, wantDiscovery: true},
		{name: "no token", tokens: session.Tokens{IDToken: "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.noRevocation = tt.noEndpoint
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.DisableRevocation = tt.disable })
			ok, err := c.RevokeTokens(t.Context(), tt.tokens)
			if ok || err != nil {
				t.Fatalf("RevokeTokens = %v, %v", ok, err)
			}
			if idp.revocationHits.Load() != 0 {
				t.Fatal("a revocation request was sent")
			}
			if got := idp.discoveryHits.Load() > 0; got != tt.wantDiscovery {
				t.Fatalf("discovery = %v, want %v", got, tt.wantDiscovery)
			}
		})
	}
}

// TestRevokeTokensFailures: failures are classified, reported once as a
// revocation problem, and never repeat the token, the secret or the
// provider's text.
func TestRevokeTokensFailures(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(nil)
	closedURL := closed.URL
	closed.Close()
	echo := `{"error":"invalid_request","error_description":"` + leakMarker + ` {token}"}`
	tests := []struct {
		name    string
		setup   func(idp *fakeIdP)
		secret  string // the client's; default testClientSecret
		want    error
		wantMsg []string
	}{
		{name: "wrong secret", secret: "wrong-secret-value", want: ErrMisconfigured, wantMsg: []string{"401", "(error invalid_client)", "check client_id and client_secret"}},
		{name: "400", setup: func(idp *fakeIdP) { idp.revFailure = &canned{status: 400, contentType: "application/json", body: echo} },
			want: ErrMisconfigured, wantMsg: []string{"400", "check client_id"}},
		{name: "401 with a challenge echoing the token", setup: func(idp *fakeIdP) {
			idp.revFailure = &canned{status: 401, header: map[string]string{"WWW-Authenticate": `Basic error="invalid_client", error_description="{token}"`}, body: echo}
		}, want: ErrMisconfigured, wantMsg: []string{"(error invalid_client)"}},
		{name: "403", setup: func(idp *fakeIdP) { idp.revFailure = &canned{status: 403, body: echo} }, want: ErrMisconfigured, wantMsg: []string{"403"}},
		{name: "404", setup: func(idp *fakeIdP) { idp.revFailure = &canned{status: 404} }, want: ErrMisconfigured, wantMsg: []string{"404"}},
		{name: "500", setup: func(idp *fakeIdP) { idp.revFailure = &canned{status: 500, body: echo} }, want: ErrUnavailable, wantMsg: []string{"500"}},
		{name: "503", setup: func(idp *fakeIdP) {
			idp.revFailure = &canned{status: 503, header: map[string]string{"Retry-After": "5"}}
		}, want: ErrUnavailable, wantMsg: []string{"503"}},
		{name: "429", setup: func(idp *fakeIdP) { idp.revFailure = &canned{status: 429} }, want: ErrUnavailable},
		{name: "unreachable", setup: func(idp *fakeIdP) {
			idp.discoveryEdit = func(d map[string]any) { d["revocation_endpoint"] = closedURL + "/revoke" }
		}, want: ErrUnavailable, wantMsg: []string{"connection refused"}},
		{name: "discovery down", setup: func(idp *fakeIdP) { idp.down.Store(true) }, want: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			if tt.setup != nil {
				tt.setup(idp)
			}
			secret := cmpOrString(tt.secret, testClientSecret)
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClientSecret, cfg.OnProblem = secret, log.add })
			tokens := session.Tokens{AccessToken: "at-secret-access", RefreshToken: "rt-secret-refresh"}
			for range 3 { // the same failure three times: one problem
				ok, err := c.RevokeTokens(t.Context(), tokens)
				if ok {
					t.Fatal("RevokeTokens reported success")
				}
				checkClassified(t, err, tt.want)
				for _, s := range tt.wantMsg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				assertNoSecret(t, "error", err.Error(), []string{"at-secret-access", "rt-secret-refresh", secret, leakMarker})
			}
			ps := log.all()
			wantComponent := componentRevocation
			if tt.name == "discovery down" {
				wantComponent = componentDiscovery
			}
			if len(ps) != 1 || ps[0].Component != wantComponent || ps[0].Resolved || ps[0].Reason != Reason(tt.want) {
				t.Fatalf("problems = %+v, want one %s problem", ps, wantComponent)
			}
			assertNoSecret(t, "problem", ps[0].Cause, []string{"at-secret-access", "rt-secret-refresh", secret, leakMarker})
		})
	}
}

// TestRevokeTokensResolved: a revocation problem is reported once, and
// once resolved when the endpoint works again.
func TestRevokeTokensResolved(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.revFailure = &canned{status: 503}
	log := &problemLog{}
	c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
	tokens := session.Tokens{RefreshToken: "rt-x"}
	for range 2 {
		if _, err := c.RevokeTokens(t.Context(), tokens); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	idp.revFailure = nil
	for range 2 {
		if ok, err := c.RevokeTokens(t.Context(), tokens); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	ps := log.all()
	if len(ps) != 2 || ps[0].Resolved || ps[0].Reason != ReasonUnavailable || !ps[1].Resolved || ps[1].Component != componentRevocation {
		t.Fatalf("problems = %+v, want the outage then its resolution", ps)
	}
}
