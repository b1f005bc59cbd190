package providercheck

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// hung bounds a check that should end by itself: long enough to mean
// "hung", never merely "slow".
const hung = 30 * time.Second

const testRedirect = "https://app.example.com/.portcullis/callback"

// want is one expected line of a report.
type want struct {
	check  string
	status Status
	detail string // a substring of the detail
}

// find returns the first result of check in rep.
func find(t *testing.T, rep Report, check string) Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Check == check {
			return r
		}
	}
	t.Fatalf("no %q check in the report:\n%s", check, text(t, rep))
	return Result{}
}

// text renders rep as the command prints it.
func text(t *testing.T, rep Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func runCheck(t *testing.T, cfg Config) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hung)
	defer cancel()
	return Run(ctx, cfg)
}

func TestOIDCChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		idp       func(*fakeIDP)
		oidc      func(o *OIDC, f *fakeIDP) // changes the configuration
		wants     []want
		wantFail  bool
		wantCount int // number of results, when not zero
	}{
		{
			name: "healthy",
			wants: []want{
				{"redirect_url", OK, testRedirect},
				{"back-channel logout url", OK, "https://app.example.com/.portcullis/backchannel-logout"},
				{"discovery", OK, "/.well-known/openid-configuration"},
				{"issuer", OK, "byte for byte"},
				{"jwks", OK, "1 usable key: RSA-2048 RS256 kid=k1"},
				{"id token algorithms", OK, "offered RS256"},
				{"response types", OK, "code"},
				{"pkce", OK, "S256"},
				{"client authentication", OK, "client_secret_basic"},
				{"token endpoint", OK, "and its secret were accepted"},
				{"authorization endpoint", OK, "/login"},
				{"userinfo", OK, "/userinfo"},
				{"refresh", OK, "not requested"},
				{"claims parameter", OK, "auth_time"},
				{"iss parameter", OK, "RFC 9207"},
				{"revocation", OK, "/revoke"},
				{"end session", OK, "/logout"},
				{"back-channel logout", OK, "register https://app.example.com/.portcullis/backchannel-logout"},
			},
		},
		{
			name: "trailing slash issuer",
			oidc: func(o *OIDC, f *fakeIDP) { o.Issuer = f.issuer() + "/" },
			wants: []want{
				{"discovery", OK, ""},
				{"issuer", Fail, "only a trailing slash differs"},
				{"provider", Skip, "once discovery works"},
			},
			wantFail: true,
		},
		{
			name:     "discovery 404",
			idp:      func(f *fakeIDP) { f.discoveryStatus = http.StatusNotFound },
			wants:    []want{{"discovery", Fail, "no discovery document"}, {"issuer", Skip, ""}},
			wantFail: true,
		},
		{
			name:     "unresolvable host",
			oidc:     func(o *OIDC, _ *fakeIDP) { o.Issuer = "https://idp.portcullis-check.invalid" },
			wants:    []want{{"discovery", Fail, "idp.portcullis-check.invalid"}},
			wantFail: true,
		},
		{
			name:     "wrong secret",
			oidc:     func(o *OIDC, _ *fakeIDP) { o.ClientSecret = "not-the-secret" },
			wants:    []want{{"token endpoint", Fail, `the provider refuses client_id "gateway" with client_secret_basic (HTTP 401 invalid_client`}},
			wantFail: true,
		},
		{
			name: "wrong client id",
			oidc: func(o *OIDC, _ *fakeIDP) { o.ClientID = "gateway-typo" },
			wants: []want{
				{"token endpoint", Fail, "wrong client id or secret"},
				{"authorization endpoint", Fail, `HTTP 400 "Error Client not found."`},
			},
			wantFail: true,
		},
		{
			name: "provider that checks codes first",
			idp:  func(f *fakeIDP) { f.codeFirst = true },
			oidc: func(o *OIDC, _ *fakeIDP) { o.ClientSecret = "not-the-secret" },
			wants: []want{
				{"token endpoint", Fail, "to a made-up refresh token, after HTTP 400 invalid_grant"},
			},
			wantFail: true,
		},
		{
			name: "code first without refresh grant",
			idp: func(f *fakeIDP) {
				f.codeFirst = true
				f.tweak = func(d map[string]any) { d["grant_types_supported"] = []string{"authorization_code"} }
			},
			oidc:  func(o *OIDC, _ *fakeIDP) { o.ClientSecret = "not-the-secret" },
			wants: []want{{"token endpoint", OK, "did not refuse"}},
		},
		{
			name:  "client_secret_post only",
			idp:   func(f *fakeIDP) { f.postOnly = true },
			wants: []want{{"client authentication", OK, "client_secret_post"}, {"token endpoint", OK, "with client_secret_post"}},
		},
		{
			name: "public client",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) {
					d["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "none"}
				}
			},
			oidc: func(o *OIDC, _ *fakeIDP) { o.ClientSecret = "" },
			wants: []want{
				{"client authentication", OK, "public client"},
				{"token endpoint", Fail, "the client is confidential at the provider and needs its client_secret"},
			},
			// The fake provider knows the client as confidential.
			wantFail: true,
		},
		{
			name:  "unregistered redirect uri",
			oidc:  func(o *OIDC, _ *fakeIDP) { o.RedirectURL = "https://other.example.com/.portcullis/callback" },
			wants: []want{{"authorization endpoint", Fail, `"Invalid parameter: redirect_uri"`}},
			// The token probe sends the same unregistered URI; the fake
			// provider does not mind.
			wantFail: true,
		},
		{
			name: "sent back with an error",
			idp: func(f *fakeIDP) {
				f.authorizeFn = func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, r.URL.Query().Get("redirect_uri")+"?error=invalid_scope&error_description=offline%0Aaccess", http.StatusFound)
				}
			},
			wants:    []want{{"authorization endpoint", Fail, `back to redirect_url with error=invalid_scope "offline access"`}},
			wantFail: true,
		},
		{
			name: "redirected to an error page",
			idp: func(f *fakeIDP) {
				f.authorizeFn = func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/error?error=invalid_request&id=1", http.StatusFound)
				}
			},
			wants: []want{{"authorization endpoint", Warn, "/error with error=invalid_request"}},
		},
		{
			name: "login page served directly",
			idp: func(f *fakeIDP) {
				f.authorizeFn = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>Sign in</html>")) }
			},
			wants: []want{{"authorization endpoint", OK, "answered 200 with a page"}},
		},
		{
			name: "authorization request mirrors the login",
			idp: func(f *fakeIDP) {
				f.authorizeFn = func(w http.ResponseWriter, r *http.Request) {
					q := r.URL.Query()
					if q.Get("scope") != "openid offline_access" || q.Get("prompt") != "consent" || q.Get("hd") != "example.com" ||
						q.Get("claims") != `{"id_token":{"groups":null}}` || q.Get("nonce") == "" || len(q.Get("code_challenge")) != 43 {
						http.Error(w, "unexpected "+r.URL.RawQuery, http.StatusBadRequest)
						return
					}
					http.Redirect(w, r, "/login", http.StatusFound)
				}
			},
			oidc: func(o *OIDC, _ *fakeIDP) {
				o.Scopes, o.AuthParams, o.Claims = []string{"offline_access"}, map[string]string{"hd": "example.com"}, `{"id_token":{"groups":null}}`
			},
			wants: []want{{"authorization endpoint", OK, "/login"}},
		},
		{
			name:  "no revocation endpoint",
			idp:   func(f *fakeIDP) { f.tweak = func(d map[string]any) { delete(d, "revocation_endpoint") } },
			wants: []want{{"revocation", Warn, "logout cannot revoke refresh tokens"}},
		},
		{
			name:  "revocation disabled",
			idp:   func(f *fakeIDP) { f.tweak = func(d map[string]any) { delete(d, "revocation_endpoint") } },
			oidc:  func(o *OIDC, _ *fakeIDP) { o.DisableRevocation = true },
			wants: []want{{"revocation", Skip, "revoke_on_logout is off"}},
		},
		{
			name:  "pkce not advertised",
			idp:   func(f *fakeIDP) { f.tweak = func(d map[string]any) { delete(d, "code_challenge_methods_supported") } },
			wants: []want{{"pkce", Warn, "not advertised"}},
		},
		{
			name: "no S256",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} }
			},
			wants:    []want{{"pkce", Fail, "lists only plain"}},
			wantFail: true,
		},
		{
			name: "HS256 only",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }
			},
			wants:    []want{{"id token algorithms", Fail, "only with HS256 none"}},
			wantFail: true,
		},
		{
			name: "keys do not fit the algorithms",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"ES256"} }
			},
			wants:    []want{{"id token algorithms", Fail, "no key of the key set fits ES256"}},
			wantFail: true,
		},
		{
			name: "unusable keys",
			idp: func(f *fakeIDP) {
				f.keys = []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hmac", Algorithm: "HS256"}}
			},
			wants:    []want{{"jwks", Fail, "no usable signing key; ignored: oct HS256 kid=hmac (symmetric key)"}},
			wantFail: true,
		},
		{
			name:     "http redirect URL on a non-loopback host",
			oidc:     func(o *OIDC, _ *fakeIDP) { o.RedirectURL = "http://app.example.com/.portcullis/callback" },
			wants:    []want{{"redirect_url", Fail, "plain http on app.example.com"}, {"back-channel logout url", Fail, "plain http"}},
			wantFail: true,
		},
		{
			name:  "http redirect URL on loopback",
			idp:   func(f *fakeIDP) { f.redirects = []string{"http://127.0.0.1:8080/.portcullis/callback"} },
			oidc:  func(o *OIDC, _ *fakeIDP) { o.RedirectURL = "http://127.0.0.1:8080/.portcullis/callback" },
			wants: []want{{"redirect_url", OK, ""}, {"back-channel logout url", OK, "http://127.0.0.1:8080/.portcullis/backchannel-logout"}},
		},
		{
			name:     "redirect URL off the callback path",
			oidc:     func(o *OIDC, _ *fakeIDP) { o.RedirectURL = "https://app.example.com/callback" },
			wants:    []want{{"redirect_url", Fail, "does not end in /.portcullis/callback"}},
			wantFail: true,
		},
		{
			name: "custom endpoint prefix",
			idp:  func(f *fakeIDP) { f.redirects = []string{"https://app.example.com/_auth/callback"} },
			oidc: func(o *OIDC, _ *fakeIDP) {
				o.RedirectURL, o.EndpointPrefix = "https://app.example.com/_auth/callback", "/_auth/"
			},
			wants: []want{{"redirect_url", OK, ""}, {"back-channel logout url", OK, "https://app.example.com/_auth/backchannel-logout"}},
		},
		{
			name: "offline access without refresh grant",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) { d["grant_types_supported"] = []string{"authorization_code"} }
			},
			oidc:  func(o *OIDC, _ *fakeIDP) { o.Scopes = []string{"openid", "offline_access"} },
			wants: []want{{"refresh", Warn, "does not list the refresh_token grant"}},
		},
		{
			name:  "access_type offline",
			oidc:  func(o *OIDC, _ *fakeIDP) { o.AuthParams = map[string]string{"access_type": "offline"} },
			wants: []want{{"refresh", OK, "access_type=offline is requested and"}},
		},
		{
			name:  "offline access",
			oidc:  func(o *OIDC, _ *fakeIDP) { o.Scopes = []string{"openid", "offline_access"} },
			wants: []want{{"refresh", OK, "prompt consent"}},
		},
		{
			name: "minimal provider",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) {
					for _, k := range []string{"userinfo_endpoint", "end_session_endpoint", "backchannel_logout_supported", "claims_parameter_supported", "id_token_signing_alg_values_supported"} {
						delete(d, k)
					}
				}
			},
			oidc: func(o *OIDC, _ *fakeIDP) { o.PostLogoutRedirectURL = "https://app.example.com/bye" },
			wants: []want{
				{"userinfo", Warn, "no userinfo_endpoint"},
				{"end session", Warn, "post_logout_redirect_url is never used"},
				{"back-channel logout", Warn, "not advertised"},
				{"claims parameter", OK, "not supported"},
				{"id token algorithms", Warn, "assumes RS256"},
				{"post_logout_redirect_url", OK, "https://app.example.com/bye"},
			},
		},
		{
			name:  "userinfo disabled",
			idp:   func(f *fakeIDP) { f.tweak = func(d map[string]any) { delete(d, "userinfo_endpoint") } },
			oidc:  func(o *OIDC, _ *fakeIDP) { o.DisableUserInfo = true },
			wants: []want{{"userinfo", Skip, "userinfo is off"}},
		},
		{
			name:     "public client the provider may refuse",
			oidc:     func(o *OIDC, _ *fakeIDP) { o.ClientSecret = "" },
			wants:    []want{{"client authentication", Warn, "lists only client_secret_basic client_secret_post"}},
			wantFail: true,
		},
		{
			name: "only private_key_jwt",
			idp: func(f *fakeIDP) {
				f.tweak = func(d map[string]any) { d["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"} }
			},
			wants:    []want{{"client authentication", Fail, "lists only private_key_jwt"}},
			wantFail: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFakeIDP(t, tt.idp)
			o := OIDC{Issuer: f.issuer(), ClientID: fakeClientID, ClientSecret: fakeSecret, RedirectURL: testRedirect}
			if tt.oidc != nil {
				tt.oidc(&o, f)
			}
			rep := runCheck(t, Config{OIDC: []OIDC{o}})
			out := text(t, rep)
			for _, w := range tt.wants {
				r := find(t, rep, w.check)
				if r.Status != w.status || !strings.Contains(r.Detail, w.detail) {
					t.Errorf("%s: got %s %q, want %s containing %q\n%s", w.check, r.Status, r.Detail, w.status, w.detail, out)
				}
			}
			if rep.Failed() != tt.wantFail {
				t.Errorf("Failed() = %v, want %v\n%s", rep.Failed(), tt.wantFail, out)
			}
			if strings.Contains(out, fakeSecret) {
				t.Errorf("the report shows the client secret:\n%s", out)
			}
		})
	}
}

// TestHealthyReportHasNoWarnings: a complete provider gives only OK lines
// (and the SKIP of an unset post_logout_redirect_url).
func TestHealthyReportHasNoWarnings(t *testing.T) {
	t.Parallel()
	f := startFakeIDP(t, nil)
	rep := runCheck(t, Config{OIDC: []OIDC{{Issuer: f.issuer(), ClientID: fakeClientID, ClientSecret: fakeSecret, RedirectURL: testRedirect,
		PostLogoutRedirectURL: "https://app.example.com/bye"}}})
	for _, r := range rep.Results {
		if r.Status != OK {
			t.Errorf("%s %s %s: %s", r.Status, r.Component, r.Check, r.Detail)
		}
	}
	if want := "oidc " + f.issuer(); rep.Results[0].Component != want {
		t.Errorf("component %q, want %q", rep.Results[0].Component, want)
	}
}
