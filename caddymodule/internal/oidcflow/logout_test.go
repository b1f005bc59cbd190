package oidcflow

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLogoutURL(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	got, err := c.LogoutURL(t.Context(), "the-id-token", "st4te")
	if err != nil {
		t.Fatalf("LogoutURL: %v", err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"tenant": {"t1"}, "id_token_hint": {"the-id-token"}, "client_id": {testClientID},
		"post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"st4te"},
	}
	if u.Scheme+"://"+u.Host+u.Path != idp.issuer()+"/logout" || u.Query().Encode() != want.Encode() {
		t.Fatalf("LogoutURL = %q", got)
	}
	noHint, err := c.LogoutURL(t.Context(), "", "")
	if err != nil || strings.Contains(noHint, "id_token_hint") || strings.Contains(noHint, "state=") {
		t.Fatalf("LogoutURL without hint = %q, %v", noHint, err)
	}

	idp2 := newIdP(t, clk.Now)
	idp2.noEndSession = true
	c2 := newTestClient(t, idp2, clk, nil)
	if _, err := c2.LogoutURL(t.Context(), "x", ""); !errors.Is(err, ErrNoEndSession) {
		t.Fatalf("LogoutURL without end_session_endpoint: %v", err)
	}
	idp3 := newIdP(t, clk.Now)
	idp3.down.Store(true)
	if _, err := newTestClient(t, idp3, clk, nil).LogoutURL(t.Context(), "x", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("LogoutURL with the provider down: %v", err)
	}
}

func TestVerifyLogoutToken(t *testing.T) {
	t.Parallel()
	const event = "http://schemas.openid.net/event/backchannel-logout"
	tests := []struct {
		name    string
		edit    func(c map[string]any, now time.Time)
		foreign bool    // signed with a key the provider does not publish
		raw     *string // replaces the signed token
		want    error
		wantSub string
		wantSID string
	}{
		{name: "sub and sid", wantSub: "alice", wantSID: "sid-1"},
		{name: "sid only", edit: func(c map[string]any, _ time.Time) { delete(c, "sub") }, wantSID: "sid-1"},
		{name: "sub only", edit: func(c map[string]any, _ time.Time) { delete(c, "sid") }, wantSub: "alice"},
		{name: "neither sub nor sid", edit: func(c map[string]any, _ time.Time) { delete(c, "sub"); delete(c, "sid") }, want: ErrLogoutToken},
		{name: "nonce present", edit: func(c map[string]any, _ time.Time) { c["nonce"] = "n" }, want: ErrLogoutToken},
		{name: "no event", edit: func(c map[string]any, _ time.Time) { delete(c, "events") }, want: ErrLogoutToken},
		{name: "other event", edit: func(c map[string]any, _ time.Time) { c["events"] = map[string]any{"urn:other": map[string]any{}} }, want: ErrLogoutToken},
		{name: "no jti", edit: func(c map[string]any, _ time.Time) { delete(c, "jti") }, want: ErrLogoutToken},
		{name: "wrong audience", edit: func(c map[string]any, _ time.Time) { c["aud"] = "other-client" }, want: ErrLogoutToken},
		{name: "wrong issuer", edit: func(c map[string]any, _ time.Time) { c["iss"] = "https://evil.example" }, want: ErrLogoutToken},
		{name: "expired", edit: func(c map[string]any, now time.Time) { c["exp"] = now.Add(-time.Minute).Unix() }, want: ErrLogoutToken},
		{name: "no iat", edit: func(c map[string]any, _ time.Time) { delete(c, "iat") }, want: ErrLogoutToken},
		{name: "iat in the future", edit: func(c map[string]any, now time.Time) { c["iat"] = now.Add(time.Hour).Unix() }, want: ErrLogoutToken},
		{name: "iat too old", edit: func(c map[string]any, now time.Time) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(time.Hour).Unix()
		}, want: ErrLogoutToken},
		{name: "foreign key", foreign: true, want: ErrLogoutToken},
		{name: "garbage", raw: ptr("not.a.jwt"), want: ErrLogoutToken},
		{name: "empty", raw: ptr(""), want: ErrLogoutToken},
		{name: "oversized", raw: ptr(strings.Repeat("a", maxLogoutTokenBytes+1)), want: ErrLogoutToken},
		{name: "alg none", raw: ptr("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."), want: ErrLogoutToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			c := newTestClient(t, idp, clk, nil)
			now := clk.Now()
			claims := map[string]any{
				"iss": idp.issuer(), "aud": testClientID, "sub": "alice", "sid": "sid-1",
				"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": "jti-" + tt.name,
				"events": map[string]any{event: map[string]any{}},
			}
			if tt.edit != nil {
				tt.edit(claims, now)
			}
			raw := idp.sign(claims)
			if tt.foreign {
				raw = newIdP(t, clk.Now).sign(claims)
			}
			if tt.raw != nil {
				raw = *tt.raw
			}
			lt, err := c.VerifyLogoutToken(t.Context(), raw)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("VerifyLogoutToken error = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyLogoutToken: %v", err)
			}
			if lt.Subject != tt.wantSub || lt.SID != tt.wantSID || lt.Issuer != idp.issuer() {
				t.Fatalf("logout token = %+v", lt)
			}
			// The same token again is a replay.
			if _, err := c.VerifyLogoutToken(t.Context(), raw); !errors.Is(err, ErrLogoutReplayed) || !errors.Is(err, ErrLogoutToken) {
				t.Fatalf("replayed logout token: %v, want ErrLogoutReplayed", err)
			}
		})
	}
}

func ptr(s string) *string { return &s }
