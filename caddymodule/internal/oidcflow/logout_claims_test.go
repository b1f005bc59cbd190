package oidcflow

import (
	"errors"
	"testing"
	"time"
)

// TestLogoutTokenClaims is the back-channel logout token corpus
// (Back-Channel Logout 1.0 §2.4 and §2.6) beyond TestVerifyLogoutToken:
// the events claim and its member, nonce, jti, sub and sid types, the
// typ header, algorithms and the audience rules.
func TestLogoutTokenClaims(t *testing.T) {
	t.Parallel()
	const event = backchannelLogoutEvent
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	del := func(ks ...string) func(map[string]any) {
		return func(c map[string]any) {
			for _, k := range ks {
				delete(c, k)
			}
		}
	}
	tests := []struct {
		name   string
		edit   func(map[string]any)
		header map[string]any // JWS header members
		alg    string         // signing key and algorithm; default ES256
		raw    func(idp *fakeIdP, claims map[string]any) string
		ok     bool
	}{
		{name: "valid", ok: true},
		{name: "events with other members too", edit: set("events", map[string]any{event: map[string]any{}, "urn:other": "x"}), ok: true},
		{name: "event member with content", edit: set("events", map[string]any{event: map[string]any{"reason": "admin"}}), ok: true},
		{name: "events missing", edit: del("events")},
		{name: "events a string", edit: set("events", event)},
		{name: "events an array", edit: set("events", []any{event})},
		{name: "events null", edit: set("events", nil)},
		{name: "events empty", edit: set("events", map[string]any{})},
		{name: "event member a string", edit: set("events", map[string]any{event: ""})},
		{name: "event member true", edit: set("events", map[string]any{event: true})},
		{name: "event member null", edit: set("events", map[string]any{event: nil})},
		{name: "event member an array", edit: set("events", map[string]any{event: []any{}})},
		{name: "event URI with trailing slash", edit: set("events", map[string]any{event + "/": map[string]any{}})},

		{name: "nonce", edit: set("nonce", "n")},
		{name: "nonce empty", edit: set("nonce", "")},
		{name: "nonce null", edit: set("nonce", nil)},

		{name: "no jti", edit: del("jti")},
		{name: "jti empty", edit: set("jti", "")},
		{name: "jti a number", edit: set("jti", 42)},

		{name: "sid only", edit: del("sub"), ok: true},
		{name: "sub only", edit: del("sid"), ok: true},
		{name: "neither sub nor sid", edit: del("sub", "sid")},
		{name: "both empty", edit: func(c map[string]any) { c["sub"], c["sid"] = "", "" }},
		{name: "sub a number", edit: set("sub", 7)},
		{name: "sid a number", edit: set("sid", 7)},
		{name: "sid a list", edit: set("sid", []any{"sid-1"})},

		{name: "no exp", edit: del("exp"), ok: true},
		{name: "no iat", edit: del("iat")},
		{name: "several audiences without azp", edit: set("aud", []any{testClientID, "other"})},
		{name: "several audiences, azp us", edit: func(c map[string]any) { c["aud"], c["azp"] = []any{testClientID, "other"}, testClientID }, ok: true},
		{name: "azp another client", edit: set("azp", "other")},
		{name: "issuer with trailing slash", edit: func(c map[string]any) { c["iss"] = c["iss"].(string) + "/" }},

		{name: "typ logout+jwt", header: map[string]any{"typ": "logout+jwt"}, ok: true},
		{name: "typ application/logout+jwt", header: map[string]any{"typ": "application/logout+jwt"}, ok: true},
		{name: "typ JWT", header: map[string]any{"typ": "JWT"}, ok: true},
		{name: "typ jwt", header: map[string]any{"typ": "jwt"}, ok: true},
		{name: "typ at+jwt", header: map[string]any{"typ": "at+jwt"}},
		{name: "typ application/at+jwt", header: map[string]any{"typ": "application/at+jwt"}},
		{name: "typ secevent+jwt", header: map[string]any{"typ": "secevent+jwt"}},
		{name: "typ id_token+jwt", header: map[string]any{"typ": "id_token+jwt"}},
		{name: "typ empty", header: map[string]any{"typ": ""}, ok: true},

		{name: "Ed25519", alg: "Ed25519", ok: true},
		{name: "EdDSA", alg: "EdDSA", ok: true},
		{name: "RS256", alg: "RS256", ok: true},
		{name: "Ed25519 key under RS256", alg: "Ed25519", header: map[string]any{"alg": "RS256"}},
		{name: "alg none", raw: func(_ *fakeIdP, c map[string]any) string { return unsigned(map[string]any{"alg": "none"}, c) }},
		{name: "HS256 with the client secret", raw: func(idp *fakeIdP, c map[string]any) string {
			return hs256(idp.t, []byte(testClientSecret), testKID, c)
		}},
		{name: "an ID token is no logout token", raw: func(idp *fakeIdP, c map[string]any) string {
			id := idClaims(idp, "alice", idp.clock())
			id["nonce"], id["sid"], id["jti"] = "n", "sid-1", "id-jti"
			return idp.sign(id)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			c := newTestClient(t, idp, clk, nil)
			claims := logoutClaims(idp, clk.Now(), "jti-1")
			if tt.edit != nil {
				tt.edit(claims)
			}
			var raw string
			if tt.raw != nil {
				raw = tt.raw(idp, claims)
			} else {
				raw = idp.jws(cmpOrString(tt.alg, "ES256"), tt.header, claims)
			}
			lt, err := c.VerifyLogoutToken(t.Context(), raw)
			if !tt.ok {
				if !errors.Is(err, ErrLogoutToken) || errors.Is(err, ErrLogoutReplayed) || Reason(err) != ReasonLogoutToken {
					t.Fatalf("VerifyLogoutToken = %+v, %v; want ErrLogoutToken", lt, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyLogoutToken: %v", err)
			}
			if lt.Issuer != idp.issuer() || !lt.IssuedAt.Equal(clk.Now()) || (lt.Subject == "" && lt.SID == "") {
				t.Fatalf("logout token = %+v", lt)
			}
		})
	}
}

// TestLogoutTokenTimes checks iat against the clock skew (default and
// exact) and LogoutTokenMaxAge, on the injected clock.
func TestLogoutTokenTimes(t *testing.T) {
	t.Parallel()
	zero := time.Duration(0)
	tests := []struct {
		name string
		skew *time.Duration
		iat  time.Duration // from now
		exp  *time.Duration
		ok   bool
	}{
		{name: "iat now", ok: true},
		{name: "iat now, exact", skew: &zero, ok: true},
		{name: "iat 60s ahead", iat: 60 * time.Second, ok: true},
		{name: "iat 61s ahead", iat: 61 * time.Second},
		{name: "iat 1s ahead, exact", skew: &zero, iat: time.Second},
		{name: "iat at the max age", iat: -DefaultLogoutTokenMaxAge, exp: ptrDuration(time.Minute), ok: true},
		{name: "iat just past the max age", iat: -DefaultLogoutTokenMaxAge - time.Second, exp: ptrDuration(time.Minute)},
		{name: "iat at the max age, exact, no exp", skew: &zero, iat: -DefaultLogoutTokenMaxAge, ok: true},
		{name: "iat at the max age, no exp", iat: -DefaultLogoutTokenMaxAge, ok: true},
		{name: "exp now, exact", skew: &zero, exp: ptrDuration(0)},
		{name: "exp 1s ahead, exact", skew: &zero, exp: ptrDuration(time.Second), ok: true},
		{name: "exp 30s ago, default skew", exp: ptrDuration(-30 * time.Second), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = tt.skew })
			now := clk.Now()
			claims := logoutClaims(idp, now, "jti-t")
			claims["iat"] = now.Add(tt.iat).Unix()
			delete(claims, "exp")
			if tt.exp != nil {
				claims["exp"] = now.Add(*tt.exp).Unix()
			}
			raw := idp.sign(claims)
			_, err := c.VerifyLogoutToken(t.Context(), raw)
			if tt.ok != (err == nil) {
				t.Fatalf("VerifyLogoutToken: %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrLogoutToken) {
					t.Fatalf("error %v is not ErrLogoutToken", err)
				}
				return
			}
			// Accepted once: the jti is remembered for as long as the
			// token could be accepted.
			if _, err := c.VerifyLogoutToken(t.Context(), raw); !errors.Is(err, ErrLogoutReplayed) {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

func ptrDuration(d time.Duration) *time.Duration { return &d }

// TestLogoutTokenReplay: a jti is processed once, whatever else the
// token says, and stays refused until the token has aged out.
func TestLogoutTokenReplay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	first := logoutClaims(idp, clk.Now(), "jti-r")
	if _, err := c.VerifyLogoutToken(t.Context(), idp.sign(first)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		alg  string
	}{
		{name: "same token"},
		{name: "same jti, other subject", edit: func(c map[string]any) { c["sub"], c["sid"] = "bob", "sid-2" }},
		{name: "same jti, later iat", edit: func(c map[string]any) { c["iat"] = clk.Now().Add(time.Second).Unix() }},
		{name: "same jti, other key", alg: "Ed25519"},
	}
	for _, tt := range tests { // sequential: one store
		t.Run(tt.name, func(t *testing.T) {
			claims := logoutClaims(idp, clk.Now(), "jti-r")
			if tt.edit != nil {
				tt.edit(claims)
			}
			_, err := c.VerifyLogoutToken(t.Context(), idp.jws(cmpOrString(tt.alg, "ES256"), nil, claims))
			if !errors.Is(err, ErrLogoutReplayed) || Reason(err) != ReasonLogoutReplay {
				t.Fatalf("VerifyLogoutToken = %v, want ErrLogoutReplayed", err)
			}
		})
	}
	// Another jti is fine.
	if _, err := c.VerifyLogoutToken(t.Context(), idp.sign(logoutClaims(idp, clk.Now(), "jti-other"))); err != nil {
		t.Fatal(err)
	}
	// Much later the original token is refused for its age, not as a replay.
	clk.Advance(DefaultLogoutTokenMaxAge + 2*DefaultClockSkew)
	if _, err := c.VerifyLogoutToken(t.Context(), idp.sign(first)); !errors.Is(err, ErrLogoutToken) || errors.Is(err, ErrLogoutReplayed) {
		t.Fatalf("aged-out token: %v", err)
	}
}
