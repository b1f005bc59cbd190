package oidcflow

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// idTokenClaims decodes the payload of a compact JWS (already verified).
func idTokenClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestUserInfoMerge: UserInfo's user claims win over the ID token's,
// the protocol claims stay the ID token's whatever UserInfo says, and
// UserInfoClaims names what UserInfo supplied.
func TestUserInfoMerge(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"json", "ES256", "RS256", "Ed25519"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			if mode != "json" {
				idp.uiJWT, idp.uiAlg = true, mode
				idp.discoveryEdit = func(d map[string]any) { d["userinfo_signing_alg_values_supported"] = []string{mode} }
			}
			idp.uiHook = func(c map[string]any) {
				c["email"] = "alice@corp.example"
				c["picture"] = "https://img.example/alice.png"
				c["groups"] = []any{"staff"}
				for k, v := range map[string]any{
					"exp": 1, "iat": 1, "nbf": 9e9, "jti": "ui-jti", "nonce": "ui-nonce", "at_hash": "ui", "c_hash": "ui",
					"auth_time": 1, "acr": "urn:weak", "amr": []any{"none"}, "azp": "other", "sid": "ui-sid",
				} {
					c[k] = v
				}
				if mode == "json" { // a signed response must name iss and aud
					c["iss"], c["aud"] = "https://evil.example", "other"
				} else { // and its times must hold: valid, yet not the ID token's
					now := clk.Now().Unix()
					c["exp"], c["iat"], c["nbf"] = now+7200, now-30, now-30
				}
			}
			c := newTestClient(t, idp, clk, nil)
			res, err := tryLogin(t, c, idp, "alice")
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			cl := res.Login.Claims
			id := idTokenClaims(t, res.Login.Tokens.IDToken)
			for _, k := range protocolClaims {
				if got, want := cl.Raw[k], id[k]; !jsonEqual(got, want) {
					t.Errorf("protocol claim %s = %v, want the ID token's %v", k, got, want)
				}
			}
			if cl.Email != "alice@corp.example" || cl.Raw["picture"] != "https://img.example/alice.png" {
				t.Errorf("UserInfo claims did not win: email %q, picture %v", cl.Email, cl.Raw["picture"])
			}
			if want := []string{"staff", "admin", "viewer", "auditor"}; !slices.Equal(cl.Groups, want) {
				t.Errorf("groups = %v, want %v", cl.Groups, want)
			}
			if cl.ACR != "urn:mfa" || cl.SID != "sid-alice" || !slices.Equal(cl.AMR, []string{"pwd", "otp"}) || !cl.AuthTime.Equal(clk.Now().Add(-30*time.Second)) {
				t.Errorf("authentication claims taken from UserInfo: %+v", cl)
			}
			want := []string{"email", "groups", "name", "picture", "realm_access", "urn:zitadel:iam:org:project:roles"}
			if !slices.Equal(cl.UserInfoClaims, want) {
				t.Errorf("UserInfoClaims = %v, want %v", cl.UserInfoClaims, want)
			}
			if n := idp.userinfoHits.Load(); n != 1 {
				t.Errorf("UserInfo called %d times", n)
			}
		})
	}
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestUserInfoCompletesThinIDToken: a provider whose ID token carries
// only the protocol claims supplies the user's through UserInfo.
func TestUserInfoCompletesThinIDToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.claimsHook = func(c map[string]any) {
		for k := range defaultProfile("") {
			delete(c, k)
		}
	}
	c := newTestClient(t, idp, clk, nil)
	res, err := tryLogin(t, c, idp, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cl := res.Login.Claims; cl.Email != "alice@example.com" || cl.Name != "User alice" || len(cl.Groups) != 5 {
		t.Fatalf("claims = %+v", cl)
	}
	// With UserInfo disabled, the same provider gives only the ID token's.
	c2 := newTestClient(t, idp, clk, func(cfg *Config) { cfg.DisableUserInfo = true })
	res, err = tryLogin(t, c2, idp, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cl := res.Login.Claims; cl.Email != "" || cl.UserInfoClaims != nil || cl.Groups != nil {
		t.Fatalf("claims without UserInfo = %+v", cl)
	}
}

// TestUserInfoSkipped: no call when disabled or not advertised.
func TestUserInfoSkipped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		disable bool
		noEP    bool
	}{{name: "disabled", disable: true}, {name: "no endpoint", noEP: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.noUserInfo = tt.noEP
			idp.uiFailure = &canned{status: 500} // would fail the login if called
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.DisableUserInfo = tt.disable })
			res, err := tryLogin(t, c, idp, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if idp.userinfoHits.Load() != 0 || res.Login.Claims.UserInfoClaims != nil || res.Login.Claims.Email != "alice@example.com" {
				t.Fatalf("UserInfo hits %d, claims %+v", idp.userinfoHits.Load(), res.Login.Claims)
			}
		})
	}
}

// TestUserInfoFailures: every way UserInfo can fail ends the login with
// its reason: the subject differs (userinfo_subject_mismatch), an outage
// (userinfo_unavailable) or anything else (userinfo_failed); no error
// repeats the access token or the provider's text.
func TestUserInfoFailures(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(nil)
	closedURL := closed.URL
	closed.Close()
	bearer401 := map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="token {token} ` + leakMarker + `"`}
	tests := []struct {
		name    string
		setup   func(idp *fakeIdP)
		want    string // Reason
		wantMsg string
	}{
		{name: "sub differs", setup: func(idp *fakeIdP) { idp.uiHook = func(c map[string]any) { c["sub"] = "mallory" } }, want: ReasonUserInfoSub},
		{name: "sub case differs", setup: func(idp *fakeIdP) { idp.uiHook = func(c map[string]any) { c["sub"] = "Alice" } }, want: ReasonUserInfoSub},
		{name: "sub padded", setup: func(idp *fakeIdP) { idp.uiHook = func(c map[string]any) { c["sub"] = "alice " } }, want: ReasonUserInfoSub},
		{name: "sub missing", setup: func(idp *fakeIdP) { idp.uiHook = func(c map[string]any) { delete(c, "sub") } }, want: ReasonUserInfoSub},
		{name: "sub a number", setup: func(idp *fakeIdP) { idp.uiHook = func(c map[string]any) { c["sub"] = 7 } }, want: ReasonUserInfoSub},
		{name: "signed, sub differs", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["sub"] = "mallory" }
		}, want: ReasonUserInfoSub},

		{name: "401 invalid_token", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{status: 401, header: bearer401, body: "bad token {token}"}
		}, want: ReasonUserInfo, wantMsg: "answered 401 (error invalid_token)"},
		{name: "403 insufficient_scope", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{status: 403, header: map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope"`}}
		}, want: ReasonUserInfo, wantMsg: "403 (error insufficient_scope)"},
		{name: "400", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 400, body: "{token}"} }, want: ReasonUserInfo, wantMsg: "400"},
		{name: "404", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 404} }, want: ReasonUserInfo, wantMsg: "404"},
		{name: "500", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 500, body: "{token}"} }, want: ReasonUserInfoDown, wantMsg: "500"},
		{name: "502", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 502} }, want: ReasonUserInfoDown},
		{name: "503", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 503} }, want: ReasonUserInfoDown},
		{name: "429", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{status: 429} }, want: ReasonUserInfoDown},
		{name: "unreachable", setup: func(idp *fakeIdP) {
			idp.discoveryEdit = func(d map[string]any) { d["userinfo_endpoint"] = closedURL + "/userinfo" }
		}, want: ReasonUserInfoDown, wantMsg: "unreachable"},
		{name: "HTML", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{contentType: "text/html", body: "<p>{token}</p>"} }, want: ReasonUserInfo, wantMsg: "text/html"},
		{name: "no content type", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{body: `{"sub":"alice"}`} }, want: ReasonUserInfo},
		{name: "JSON array", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{contentType: "application/json", body: `[{"sub":"alice"}]`}
		}, want: ReasonUserInfo},
		{name: "JSON null", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{contentType: "application/json", body: `null`} }, want: ReasonUserInfo},
		{name: "not JSON", setup: func(idp *fakeIdP) { idp.uiFailure = &canned{contentType: "application/json", body: `{token}`} }, want: ReasonUserInfo},
		{name: "oversized", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{contentType: "application/json", body: `{"sub":"alice","x":"` + strings.Repeat("a", maxUserInfoBytes) + `"}`}
		}, want: ReasonUserInfo, wantMsg: "larger than"},

		{name: "signed, other issuer", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["iss"] = "https://evil.example" }
		}, want: ReasonUserInfo, wantMsg: "another issuer"},
		{name: "signed, issuer with trailing slash", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["iss"] = c["iss"].(string) + "/" }
		}, want: ReasonUserInfo},
		{name: "signed, no issuer", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { delete(c, "iss") }
		}, want: ReasonUserInfo},
		{name: "signed, other audience", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["aud"] = "other" }
		}, want: ReasonUserInfo, wantMsg: "another audience"},
		{name: "signed, expired", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["exp"] = float64(idp.clock().Add(-2 * time.Minute).Unix()) }
		}, want: ReasonUserInfo, wantMsg: "expired"},
		{name: "signed, issued in the future", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["iat"] = float64(idp.clock().Add(2 * time.Hour).Unix()) }
		}, want: ReasonUserInfo, wantMsg: "in the future"},
		{name: "signed, exp not a number", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { c["exp"] = "tomorrow" }
		}, want: ReasonUserInfo, wantMsg: "NumericDate"},
		{name: "signed, no audience", setup: func(idp *fakeIdP) {
			idp.uiJWT = true
			idp.uiHook = func(c map[string]any) { delete(c, "aud") }
		}, want: ReasonUserInfo},
		{name: "signed with a foreign key", setup: func(idp *fakeIdP) {
			foreign := newIdP(idp.t, idp.clock)
			idp.uiFailure = &canned{contentType: "application/jwt", body: foreign.sign(map[string]any{
				"iss": idp.issuer(), "aud": testClientID, "sub": "alice", "email": "mallory@example.com"})}
		}, want: ReasonUserInfo},
		{name: "signed, alg none", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{contentType: "application/jwt", body: unsigned(map[string]any{"alg": "none"},
				map[string]any{"iss": idp.issuer(), "aud": testClientID, "sub": "alice"})}
		}, want: ReasonUserInfo},
		{name: "signed, HS256 with the client secret", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{contentType: "application/jwt", body: hs256(idp.t, []byte(testClientSecret), testKID,
				map[string]any{"iss": idp.issuer(), "aud": testClientID, "sub": "alice"})}
		}, want: ReasonUserInfo},
		{name: "signed, algorithm not listed", setup: func(idp *fakeIdP) {
			idp.uiJWT, idp.uiAlg = true, "Ed25519"
			idp.discoveryEdit = func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"ES256"} }
		}, want: ReasonUserInfo},
		{name: "JWT content type, JSON body", setup: func(idp *fakeIdP) {
			idp.uiFailure = &canned{contentType: "application/jwt", body: `{"sub":"alice"}`}
		}, want: ReasonUserInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			tt.setup(idp)
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.OnProblem = log.add })
			res, err := tryLogin(t, c, idp, "alice")
			if err == nil {
				t.Fatalf("login succeeded: %+v", res.Login.Claims)
			}
			if !errors.Is(err, ErrUserInfo) || Reason(err) != tt.want {
				t.Fatalf("error = %v (reason %s), want ErrUserInfo with %s", err, Reason(err), tt.want)
			}
			if down := errors.Is(err, ErrUnavailable); down != (tt.want == ReasonUserInfoDown) {
				t.Errorf("ErrUnavailable = %v for reason %s", down, tt.want)
			}
			if (tt.want == ReasonUserInfoSub) != errors.Is(err, ErrUserInfoSubject) {
				t.Errorf("ErrUserInfoSubject mismatch: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if res.Login.Subject != "" {
				t.Error("a failed login returned a subject")
			}
			secrets := append(idp.issuedSecrets(), testClientSecret, leakMarker, "mallory")
			assertNoSecret(t, "error", err.Error(), secrets)
			ps := log.all()
			if len(ps) != 1 || ps[0].Component != componentUserInfo || ps[0].Reason != tt.want || ps[0].Resolved {
				t.Fatalf("problems = %+v, want one userinfo problem with reason %s", ps, tt.want)
			}
			assertNoSecret(t, "problem", ps[0].Cause, secrets)
		})
	}
}

// TestUserInfoContentTypes: parameters of the media type are ignored.
func TestUserInfoContentTypes(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/json; charset=utf-8", "application/json;charset=UTF-8", "APPLICATION/JSON"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.uiFailure = &canned{contentType: ct, body: `{"sub":"alice","email":"a@corp.example"}`}
			c := newTestClient(t, idp, clk, nil)
			res, err := tryLogin(t, c, idp, "alice")
			if err != nil || res.Login.Claims.Email != "a@corp.example" {
				t.Fatalf("login = %v, %v", res, err)
			}
		})
	}
}
