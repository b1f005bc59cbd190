package oidcprovider_test

import (
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

func TestProfileAuthTimeOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		profile       oidcprovider.Profile
		extra         url.Values
		requireAT     bool
		wantAuthTime  bool
		wantIDTClaims []string // user claims the ID token must carry
	}{
		{name: "lenient", profile: oidcprovider.Lenient, wantAuthTime: true, wantIDTClaims: []string{"email", "groups"}},
		{name: "strict plain", profile: oidcprovider.Strict},
		{name: "strict prompt=login", profile: oidcprovider.Strict, extra: url.Values{"prompt": {"login consent"}}},
		{name: "strict max_age", profile: oidcprovider.Strict, extra: url.Values{"max_age": {"600"}}, wantAuthTime: true},
		{name: "strict max_age=0", profile: oidcprovider.Strict, extra: url.Values{"max_age": {"0"}}, wantAuthTime: true},
		{
			name: "strict claims essential", profile: oidcprovider.Strict, wantAuthTime: true,
			extra: url.Values{"claims": {`{"id_token":{"auth_time":{"essential":true}}}`}},
		},
		{
			name: "strict claims voluntary", profile: oidcprovider.Strict, wantAuthTime: true,
			extra: url.Values{"claims": {`{"id_token":{"auth_time":null}}`}},
		},
		{
			name: "strict claims for userinfo only", profile: oidcprovider.Strict,
			extra: url.Values{"claims": {`{"userinfo":{"auth_time":null,"groups":null}}`}},
		},
		{
			name: "strict claims asks groups and email in the ID token", profile: oidcprovider.Strict,
			extra:         url.Values{"claims": {`{"id_token":{"groups":{"essential":true},"email":null}}`}},
			wantIDTClaims: []string{"email", "groups"},
		},
		{name: "strict require_auth_time", profile: oidcprovider.Strict, requireAT: true, wantAuthTime: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := web
			c.RequireAuthTime = tc.requireAT
			p := oidcprovider.Start(t, oidcprovider.WithProfile(tc.profile), oidcprovider.WithUsers(bob), oidcprovider.WithClients(c))
			extra := url.Values{"scope": {"openid email offline_access"}, "prompt": {"consent"}, "acr_values": {"urn:a urn:b"}, "login_hint": {"bob"}}
			for k, v := range tc.extra {
				extra[k] = v
			}
			tr, _ := login(t, p, newAgent(t, p), "web", "s3cret", extra)
			next, err := refresh(p, "web", "s3cret", tr.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			for what, idt := range map[string]string{"code": tr.IDToken, "refresh": next.IDToken} {
				_, claims := mustVerify(t, p, idt)
				if _, has := claims["auth_time"]; has != tc.wantAuthTime {
					t.Errorf("%s ID token has auth_time: %v, want %v: %v", what, has, tc.wantAuthTime, claims)
				}
				for _, name := range []string{"email", "groups"} {
					if _, has := claims[name]; has != slices.Contains(tc.wantIDTClaims, name) {
						t.Errorf("%s ID token has %s: %v: %v", what, name, has, claims)
					}
				}
			}

			seen := p.AuthRequests()[0]
			if !slices.Equal(seen.ACRValues, []string{"urn:a", "urn:b"}) || seen.LoginHint != "bob" ||
				seen.Extra.Get("nonce") != "n-1" || seen.Extra.Get("code_challenge_method") != "S256" {
				t.Errorf("AuthRequestSeen = %+v", seen)
			}
			if ma := tc.extra.Get("max_age"); ma != "" && (seen.MaxAge == nil || strconv.FormatUint(uint64(*seen.MaxAge), 10) != ma) {
				t.Errorf("AuthRequestSeen.MaxAge = %v, want %s", seen.MaxAge, ma)
			} else if ma == "" && seen.MaxAge != nil {
				t.Errorf("AuthRequestSeen.MaxAge = %d, want nil", *seen.MaxAge)
			}
			if string(seen.Claims) != tc.extra.Get("claims") {
				t.Errorf("AuthRequestSeen.Claims = %s, want %s", seen.Claims, tc.extra.Get("claims"))
			}
		})
	}
}

func TestStrictRefusesBadClaimsParameter(t *testing.T) {
	t.Parallel()
	p := oidcprovider.Start(t, oidcprovider.WithProfile(oidcprovider.Strict), oidcprovider.WithUsers(bob), oidcprovider.WithClients(web))
	q := redirectParams(t, newAgent(t, p).authorize("web", url.Values{"claims": {`["auth_time"]`}}))
	if q.Get("error") != "invalid_request" || q.Get("iss") != p.Issuer() {
		t.Errorf("authorization response to a claims array: %v", q)
	}
	if seen := p.AuthRequests(); len(seen) != 1 || seen[0].ID != "" || seen[0].GrantedScopes != nil {
		t.Errorf("AuthRequests() = %+v, want one refused request", seen)
	}
}
