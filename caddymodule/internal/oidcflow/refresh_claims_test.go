package oidcflow

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// TestRefreshUpdatesClaims: a refresh brings the session's claims to the
// provider's current view (a group removed there is gone, a changed
// email is updated) through the new ID token and UserInfo, while the
// authentication (auth_time, acr, amr, sid) stays the login's whatever
// the refresh response says.
func TestRefreshUpdatesClaims(t *testing.T) {
	t.Parallel()
	changed := map[string]any{"email": "alice@new.example", "name": "Alice", "groups": []any{"staff"}}
	tests := []struct {
		name        string
		setup       func(idp *fakeIdP, cfg *Config)
		wantClaims  bool     // Refreshed.Claims is set
		wantGroups  []string // when it is
		wantUIC     []string
		wantIDToken bool // Refreshed.Tokens.IDToken is set
	}{
		{name: "ID token and UserInfo", wantClaims: true, wantGroups: []string{"staff"}, wantUIC: []string{"email", "groups", "name"}, wantIDToken: true},
		{name: "UserInfo only", setup: func(idp *fakeIdP, _ *Config) { idp.refreshNoIDToken = true },
			wantClaims: true, wantGroups: []string{"staff"}, wantUIC: []string{"email", "groups", "name"}},
		{name: "ID token only", setup: func(_ *fakeIdP, cfg *Config) { cfg.DisableUserInfo = true },
			wantClaims: true, wantGroups: []string{"staff"}, wantIDToken: true},
		{name: "ID token only, no userinfo_endpoint", setup: func(idp *fakeIdP, _ *Config) { idp.noUserInfo = true },
			wantClaims: true, wantGroups: []string{"staff"}, wantIDToken: true},
		{name: "neither", setup: func(idp *fakeIdP, cfg *Config) { cfg.DisableUserInfo, idp.refreshNoIDToken = true, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			var cfgEdit func(*Config)
			if tt.setup != nil {
				var probe Config
				tt.setup(idp, &probe)
				cfgEdit = func(cfg *Config) { cfg.DisableUserInfo = probe.DisableUserInfo }
			}
			c := newTestClient(t, idp, clk, cfgEdit)
			res := login(t, c, idp, "alice")
			before := res.Login.Claims
			if before.AuthTime.IsZero() || !slices.Contains(before.Groups, "ops") {
				t.Fatalf("login claims = %+v", before)
			}

			clk.Advance(50 * time.Minute)
			idp.setUser("alice", changed)
			// A provider that re-stamps the authentication on refresh (OIDC
			// Core §12.2 says it must not) changes nothing.
			idp.refreshHook = func(c map[string]any) {
				c["auth_time"] = clk.Now().Unix()
				c["acr"], c["amr"], c["sid"] = "urn:weak", []string{"pwd"}, "sid-new"
			}
			got, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: res.Login.Tokens, Claims: before})
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			tok := got.Tokens
			if tok.AccessToken == "" || tok.AccessToken == res.Login.Tokens.AccessToken || tok.RefreshToken == res.Login.Tokens.RefreshToken ||
				!tok.Obtained.Equal(clk.Now()) || (tok.IDToken != "") != tt.wantIDToken {
				t.Fatalf("tokens not renewed: id token %v, obtained %v", tok.IDToken != "", tok.Obtained)
			}
			if !tt.wantClaims {
				if got.Claims != nil {
					t.Fatalf("claims = %+v, want none (nothing new about the user)", got.Claims)
				}
				return
			}
			cl := got.Claims
			if cl == nil {
				t.Fatal("no claims after the refresh")
			}
			if !slices.Equal(cl.Groups, tt.wantGroups) {
				t.Errorf("groups = %v, want %v (the removed ones must go)", cl.Groups, tt.wantGroups)
			}
			if cl.Email != "alice@new.example" || cl.Name != "Alice" {
				t.Errorf("profile not updated: %q %q", cl.Email, cl.Name)
			}
			if !cl.AuthTime.Equal(before.AuthTime) || cl.ACR != "urn:mfa" || !slices.Equal(cl.AMR, []string{"pwd", "otp"}) || cl.SID != "sid-alice" {
				t.Errorf("authentication changed by a refresh: %+v", cl)
			}
			for _, k := range []string{"auth_time", "acr", "amr", "sid"} {
				if !jsonEqual(cl.Raw[k], before.Raw[k]) {
					t.Errorf("raw %s = %v, want the login's %v", k, cl.Raw[k], before.Raw[k])
				}
			}
			for _, k := range []string{"realm_access", "urn:zitadel:iam:org:project:roles"} {
				if _, ok := cl.Raw[k]; ok {
					t.Errorf("claim %s the provider no longer sends is still there", k)
				}
			}
			if !slices.Equal(cl.UserInfoClaims, tt.wantUIC) {
				t.Errorf("UserInfoClaims = %v, want %v", cl.UserInfoClaims, tt.wantUIC)
			}
			if cl.Issuer != idp.issuer() || cl.Raw["sub"] != "alice" {
				t.Errorf("claims = %+v", cl)
			}
		})
	}
}

// TestRefreshKeepsAbsentAuthentication: when the login had no auth_time
// (the provider was not asked), a refresh ID token that has one does not
// add it; acr, amr and sid missing from the refresh ID token stay.
func TestRefreshKeepsAbsentAuthentication(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.noClaimsParam = true // no auth_time asked, none sent
	c := newTestClient(t, idp, clk, nil)
	res := login(t, c, idp, "alice")
	if !res.Login.Claims.AuthTime.IsZero() || res.Login.Claims.Raw["auth_time"] != nil {
		t.Fatalf("auth_time without asking: %+v", res.Login.Claims)
	}
	idp.refreshHook = func(c map[string]any) {
		c["auth_time"] = clk.Now().Unix()
		delete(c, "acr")
		delete(c, "amr")
		delete(c, "sid")
	}
	got, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: res.Login.Tokens, Claims: res.Login.Claims})
	if err != nil || got.Claims == nil {
		t.Fatalf("Refresh = %+v, %v", got, err)
	}
	cl := got.Claims
	if _, ok := cl.Raw["auth_time"]; ok || !cl.AuthTime.IsZero() {
		t.Errorf("auth_time added by a refresh: %+v", cl)
	}
	if cl.ACR != "urn:mfa" || cl.SID != "sid-alice" || len(cl.AMR) != 2 || cl.Raw["acr"] != "urn:mfa" || cl.Raw["sid"] != "sid-alice" {
		t.Errorf("authentication claims lost: %+v", cl)
	}
}

// TestRefreshKeepsRefreshToken: a provider that does not rotate refresh
// tokens answers without one; the current one is kept.
func TestRefreshKeepsRefreshToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.noRotation = true
	c := newTestClient(t, idp, clk, nil)
	res := login(t, c, idp, "alice")
	// The fake forgets used refresh tokens; a non-rotating provider keeps them.
	idp.mu.Lock()
	idp.refresh["rt-long-lived"] = &refreshGrant{sub: "alice"}
	idp.mu.Unlock()
	tokens := res.Login.Tokens
	tokens.RefreshToken = "rt-long-lived"
	got, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: tokens, Claims: res.Login.Claims})
	if err != nil {
		t.Fatal(err)
	}
	if got.Tokens.RefreshToken != "rt-long-lived" {
		t.Fatal("the refresh token was lost")
	}
}

// TestRefreshFailures: which failures end the session (refused grant,
// an ID token or UserInfo we cannot trust) and which are transient
// (outages, a client the provider refuses); UserInfo being down keeps
// the renewed tokens and the current claims.
func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(nil)
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name          string
		setup         func(idp *fakeIdP)
		forged        bool   // present an unknown refresh token
		wantErr       error  // nil: success
		wantReason    string // of the error
		wantTransient bool
		wantProblem   string // component of the one Problem reported; "" none
	}{
		{name: "invalid_grant", forged: true, wantErr: ErrRefreshRefused, wantReason: ReasonRefreshRefused},
		{name: "invalid_client", setup: func(idp *fakeIdP) { idp.invalidClient.Store(true) },
			wantErr: ErrMisconfigured, wantReason: ReasonMisconfigured, wantTransient: true, wantProblem: componentToken},
		{name: "unauthorized_client", setup: func(idp *fakeIdP) {
			idp.tokenFailure = &canned{status: 400, contentType: "application/json", body: `{"error":"unauthorized_client","error_description":"{token}"}`}
		}, wantErr: ErrMisconfigured, wantReason: ReasonMisconfigured, wantTransient: true, wantProblem: componentToken},
		{name: "wrong client secret", setup: func(idp *fakeIdP) { idp.clientSecret = "rotated-at-the-provider" },
			wantErr: ErrMisconfigured, wantReason: ReasonMisconfigured, wantTransient: true, wantProblem: componentToken},
		{name: "503", setup: func(idp *fakeIdP) { idp.tokenDown.Store(true) },
			wantErr: ErrUnavailable, wantReason: ReasonUnavailable, wantTransient: true, wantProblem: componentToken},
		{name: "429", setup: func(idp *fakeIdP) {
			idp.tokenFailure = &canned{status: 429, contentType: "application/json", body: `{"error":"slow_down"}`}
		}, wantErr: ErrUnavailable, wantReason: ReasonUnavailable, wantTransient: true, wantProblem: componentToken},
		{name: "token endpoint unreachable", setup: func(idp *fakeIdP) {
			idp.discoveryEdit = func(d map[string]any) { d["token_endpoint"] = closedURL + "/token" }
		}, wantErr: ErrUnavailable, wantReason: ReasonUnavailable, wantTransient: true, wantProblem: componentToken},
		{name: "ID token for another subject", setup: func(idp *fakeIdP) {
			idp.refreshHook = func(c map[string]any) { c["sub"] = "mallory" }
		}, wantErr: ErrIDToken, wantReason: ReasonIDToken},
		{name: "ID token for another client", setup: func(idp *fakeIdP) {
			idp.refreshHook = func(c map[string]any) { c["aud"] = "other" }
		}, wantErr: ErrIDToken, wantReason: ReasonIDToken, wantProblem: componentIDToken},
		{name: "ID token expired", setup: func(idp *fakeIdP) {
			idp.refreshHook = func(c map[string]any) { c["exp"] = idp.clock().Add(-time.Hour).Unix() }
		}, wantErr: ErrIDToken, wantReason: ReasonIDToken, wantProblem: componentIDToken},
		{name: "ID token unsigned", setup: func(idp *fakeIdP) {
			idp.signIDToken = func(b []byte) string {
				return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
			}
		}, wantErr: ErrIDToken, wantReason: ReasonIDToken, wantProblem: componentIDToken},
		{name: "UserInfo for another subject", setup: func(idp *fakeIdP) {
			idp.uiHook = func(c map[string]any) { c["sub"] = "mallory" }
		}, wantErr: ErrUserInfoSubject, wantReason: ReasonUserInfoSub, wantProblem: componentUserInfo},
		{name: "UserInfo refuses the token", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}, body: "{token}"}
		}, wantErr: ErrUserInfo, wantReason: ReasonUserInfo, wantProblem: componentUserInfo},
		{name: "UserInfo down", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 503} }, wantProblem: componentUserInfo},
		{name: "UserInfo unreachable", setup: func(idp *fakeIdP) {
			idp.discoveryEdit = func(d map[string]any) { d["userinfo_endpoint"] = closedURL + "/userinfo" }
		}, wantProblem: componentUserInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			// Log in with a healthy provider, then break it.
			res := login(t, newTestClient(t, idp, clk, nil), idp, "alice")
			if tt.setup != nil {
				tt.setup(idp)
			}
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
			tokens := res.Login.Tokens
			if tt.forged {
				tokens.RefreshToken = "rt-forged"
			}
			got, err := c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: tokens, Claims: res.Login.Claims})
			secrets := append(idp.issuedSecrets(), testClientSecret, leakMarker, "rt-forged", "mallory")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				if got.Claims != nil || got.Tokens.AccessToken == "" || got.Tokens.AccessToken == tokens.AccessToken || got.Tokens.RefreshToken == "" {
					t.Fatalf("Refresh = %+v, want renewed tokens and unchanged claims", got)
				}
			} else {
				if !errors.Is(err, tt.wantErr) || Reason(err) != tt.wantReason {
					t.Fatalf("Refresh error = %v (reason %s), want %v (%s)", err, Reason(err), tt.wantErr, tt.wantReason)
				}
				if transient := errors.Is(err, session.ErrRefreshTransient); transient != tt.wantTransient {
					t.Fatalf("transient = %v, want %v (%v)", transient, tt.wantTransient, err)
				}
				if got.Claims != nil || got.Tokens.AccessToken != "" {
					t.Fatal("a failed refresh returned tokens or claims")
				}
				assertNoSecret(t, "error", err.Error(), secrets)
			}
			ps := log.all()
			if tt.wantProblem == "" {
				if len(ps) != 0 {
					t.Fatalf("problems = %+v, want none", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Component != tt.wantProblem || ps[0].Resolved {
				t.Fatalf("problems = %+v, want one for %s", ps, tt.wantProblem)
			}
			assertNoSecret(t, "problem", ps[0].Cause, secrets)
		})
	}
}
