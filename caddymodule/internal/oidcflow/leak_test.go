package oidcflow

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// TestNoSecretInErrorsOrProblems runs failures where the provider echoes
// what it was sent (codes, tokens) in its error descriptions, bodies and
// headers, with a client secret full of reserved characters, and checks
// that no error and no Problem carries a secret: the client secret, a
// code, a state, an access, refresh or ID token, a flow cookie, or the
// provider's free text.
func TestNoSecretInErrorsOrProblems(t *testing.T) {
	t.Parallel()
	const secret = "Zq9:s3cr%t/+p@ss=word"
	echoJSON := func(status int, code string) *canned {
		return &canned{status: status, contentType: "application/json",
			header: map[string]string{"WWW-Authenticate": `Bearer error="` + code + `", error_description="{token}"`},
			body:   `{"error":"` + code + `","error_description":"` + leakMarker + ` {token}","error_uri":"https://idp.example/e?t={token}"}`}
	}
	type env struct {
		c   *Client
		idp *fakeIdP
		res *Result // a completed login, for refresh and revocation
	}
	tests := []struct {
		name string
		run  func(t *testing.T, e *env) error
	}{
		{name: "exchange refused", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = echoJSON(400, "invalid_grant")
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "exchange, client refused", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = echoJSON(401, "invalid_client")
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "exchange, provider down", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = echoJSON(503, "temporarily_unavailable")
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "exchange, junk error code", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = &canned{status: 400, contentType: "application/json", body: `{"error":"{token}"}`}
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "exchange, HTML error page", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = &canned{status: 500, contentType: "text/html", body: "<pre>" + leakMarker + " {token}</pre>"}
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "provider error with a description", run: func(t *testing.T, e *env) error {
			red, err := e.c.StartLogin(t.Context(), LoginOptions{})
			if err != nil {
				return err
			}
			q := e.idp.authorize(t, red.URL, "alice")
			q.Set("error", "access_denied")
			q.Set("error_description", leakMarker+" "+q.Get("code"))
			q.Set("error_uri", "https://idp.example/"+leakMarker)
			_, err = e.c.Callback(t.Context(), callbackRequest(q, red.SetCookies))
			return err
		}},
		{name: "ID token refused", run: func(t *testing.T, e *env) error {
			e.idp.claimsHook = func(c map[string]any) { c["aud"] = "other" }
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "at_hash mismatch", run: func(t *testing.T, e *env) error {
			e.idp.claimsHook = func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "UserInfo refuses the token", run: func(t *testing.T, e *env) error {
			e.idp.uiFailure = echoJSON(401, "invalid_token")
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "UserInfo down", run: func(t *testing.T, e *env) error {
			e.idp.uiFailure = echoJSON(502, "server_error")
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "UserInfo not JSON", run: func(t *testing.T, e *env) error {
			e.idp.uiFailure = &canned{contentType: "application/json", body: "{token} " + leakMarker}
			_, err := tryLogin(t, e.c, e.idp, "alice")
			return err
		}},
		{name: "refresh refused", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = echoJSON(400, "invalid_grant")
			_, err := e.c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: e.res.Login.Tokens, Claims: e.res.Login.Claims})
			return err
		}},
		{name: "refresh, client refused", run: func(t *testing.T, e *env) error {
			e.idp.tokenFailure = echoJSON(401, "invalid_client")
			_, err := e.c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: e.res.Login.Tokens, Claims: e.res.Login.Claims})
			return err
		}},
		{name: "refresh, provider down", run: func(t *testing.T, e *env) error {
			e.idp.tokenDown.Store(true)
			_, err := e.c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: e.res.Login.Tokens, Claims: e.res.Login.Claims})
			return err
		}},
		{name: "refresh, UserInfo refuses", run: func(t *testing.T, e *env) error {
			e.idp.uiFailure = echoJSON(401, "invalid_token")
			_, err := e.c.Refresh(t.Context(), session.RefreshRequest{Subject: "alice", Tokens: e.res.Login.Tokens, Claims: e.res.Login.Claims})
			return err
		}},
		{name: "revocation refused", run: func(t *testing.T, e *env) error {
			e.idp.revFailure = echoJSON(400, "invalid_request")
			_, err := e.c.RevokeTokens(t.Context(), e.res.Login.Tokens)
			return err
		}},
		{name: "revocation, client refused", run: func(t *testing.T, e *env) error {
			e.idp.revFailure = echoJSON(401, "invalid_client")
			_, err := e.c.RevokeTokens(t.Context(), session.Tokens{AccessToken: e.res.Login.Tokens.AccessToken})
			return err
		}},
		{name: "revocation down", run: func(t *testing.T, e *env) error {
			e.idp.revFailure = echoJSON(503, "temporarily_unavailable")
			_, err := e.c.RevokeTokens(t.Context(), e.res.Login.Tokens)
			return err
		}},
		{name: "logout token is an ID token", run: func(t *testing.T, e *env) error {
			_, err := e.c.VerifyLogoutToken(t.Context(), e.res.Login.Tokens.IDToken)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.clientSecret = secret
			log := &problemLog{}
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClientSecret, cfg.OnProblem = secret, log.add })
			e := &env{c: c, idp: idp, res: login(t, c, idp, "alice")}
			var cookies []string
			for _, ck := range e.res.SetCookies {
				cookies = append(cookies, ck.Value)
			}
			err := tt.run(t, e)
			if err == nil {
				t.Fatal("no error")
			}
			if Reason(err) == ReasonInternal {
				t.Errorf("Reason(%v) = internal", err)
			}
			secrets := append(idp.issuedSecrets(), secret, leakMarker, e.res.Login.Tokens.IDToken)
			secrets = append(secrets, cookies...)
			for _, q := range idp.authQueries {
				secrets = append(secrets, q.Get("state"), q.Get("nonce"), q.Get("code_challenge"))
			}
			assertNoSecret(t, "error", err.Error(), secrets)
			for _, p := range log.all() {
				assertNoSecret(t, "problem", p.Component+" "+p.Reason+" "+p.Cause, secrets)
				if strings.ContainsAny(p.Cause, "\r\n") {
					t.Errorf("problem cause %q spans lines", p.Cause)
				}
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q spans lines", err)
			}
			var pe *ProviderError
			if errors.As(err, &pe) && pe.Code != "access_denied" {
				t.Errorf("provider error code %q", pe.Code)
			}
		})
	}
}

// TestFlowCookieSecrets: the flow cookie (state, nonce, PKCE verifier)
// and the authorization URL never carry the verifier in clear.
func TestFlowCookieSecrets(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	red := startLogin(t, c, LoginOptions{ReturnTo: "/secret-path"})
	q := idp.authorize(t, red.URL, "alice")
	ck := red.SetCookies[0]
	for _, s := range []string{q.Get("state"), idp.authQueries[0].Get("nonce"), "/secret-path"} {
		if strings.Contains(ck.Value, s) {
			t.Errorf("the flow cookie holds %q in clear", s)
		}
	}
	if strings.Contains(red.URL, "code_verifier") || !strings.Contains(ck.Name, "-flow-") || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("redirect %q / cookie %+v", red.URL, ck)
	}
}
