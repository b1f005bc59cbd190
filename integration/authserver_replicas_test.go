package integration_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/mcpharness"
)

// TestAuthServerReplicas: two gateways on one Redis are one
// authorization server: a code issued by one is redeemed at the other,
// with a token signed by the key the first generated and stored; a
// refresh token rotated at one is detected as reused at the other.
func TestAuthServerReplicas(t *testing.T) {
	t.Parallel()
	store := redisStore(redistest.SharedStandalone(t).URL())
	s := startAuthServerWith(t, store)
	b := harness.StartGateway(t, asGatewayWith(s.idp.Issuer(), s.srv.Addr, store, s.gw.URL), s.env...)
	registerGateway(s.idp, s.gw, b)

	ra, ka := s.gw.Do(t, "GET", "/.portcullis/oauth/jwks.json", nil)
	rb, kb := b.Do(t, "GET", "/.portcullis/oauth/jwks.json", nil)
	if ra.StatusCode != 200 || rb.StatusCode != 200 || ka != kb || !strings.Contains(ka, `"kid"`) {
		t.Fatalf("the replicas publish different keys:\n%s\n%s", ka, kb)
	}

	cimdID := s.cimd.URL + cimdPath
	v, ch := pkce()
	q, err := s.authorizeInBrowser(s.authorizeURL(cimdID, ch, s.resource, nil), true)
	if err != nil || q.Get("code") == "" {
		t.Fatalf("authorization at the first replica: %v %v", err, q)
	}
	token := func(gw *harness.Gateway, form url.Values) tokenResponse {
		t.Helper()
		req, _ := http.NewRequest("POST", gw.URL+"/.portcullis/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := harness.Send(t, req)
		tr := tokenResponse{status: resp.StatusCode}
		if err := jsonUnmarshal(body, &tr); err != nil {
			t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
		}
		return tr
	}
	first := token(b, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {cimdID},
		"redirect_uri": {s.redirect}, "code_verifier": {v}, "resource": {s.resource}})
	if first.status != 200 {
		t.Fatalf("redeeming at the second replica the code the first issued: %+v", first)
	}
	if code, wa := s.callTool(t, "/mcp", first.AccessToken, mcpharness.ToolEcho); code != 200 {
		t.Fatalf("the first replica refuses the second's token: %d %q", code, wa)
	}
	if again := token(s.gw, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {cimdID},
		"redirect_uri": {s.redirect}, "code_verifier": {v}}); again.Error != "invalid_grant" {
		t.Fatalf("the code replayed at the other replica: %+v", again)
	}
	// The replay revoked the grant; a fresh one for the refresh checks.
	v, ch = pkce()
	q, err = s.authorizeInBrowser(s.authorizeURL(cimdID, ch, s.resource, nil), true)
	if err != nil {
		t.Fatal(err)
	}
	fresh := token(s.gw, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {cimdID},
		"redirect_uri": {s.redirect}, "code_verifier": {v}})
	rotated := token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}, "client_id": {cimdID}})
	if fresh.status != 200 || rotated.status != 200 || rotated.RefreshToken == fresh.RefreshToken {
		t.Fatalf("refresh at the other replica: %+v %+v", fresh, rotated)
	}
	if reuse := token(s.gw, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}, "client_id": {cimdID}}); reuse.Error != "invalid_grant" {
		t.Fatalf("the rotated token at the first replica: %+v", reuse)
	}
	if after := token(b, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.RefreshToken}, "client_id": {cimdID}}); after.Error != "invalid_grant" {
		t.Fatalf("the current token after a reuse on another replica: %+v, want the grant revoked", after)
	}
}
