package integration_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/mcpharness"
)

// hostileName is a client name with markup: the consent page must show
// it as text.
const hostileName = `<b id="injected">Evil</b><img src=x onerror=alert(1)> & Co`

// TestAuthServerMCP: the official MCP Go SDK client, with no
// pre-registration, connects to an MCP server behind the gateway whose
// login provider has no dynamic registration and no resource
// indicators: it discovers the gateway as the authorization server,
// registers (RFC 7591, then a Client ID Metadata Document), signs alice
// in through Chromium, consents, lists and calls tools. The gateway's
// tokens meet the per-tool rules and step-up; a refresh rotates, and a
// replayed refresh token revokes the grant; a replayed code, a wrong
// PKCE verifier and a token for another resource are refused; the
// client's name is escaped on the consent page.
func TestAuthServerMCP(t *testing.T) {
	t.Parallel()
	s := startAuthServer(t)

	t.Run("discovery", func(t *testing.T) {
		resp, body := s.gw.Do(t, "GET", "/.well-known/oauth-protected-resource/mcp", nil)
		var prm struct {
			AuthorizationServers []string `json:"authorization_servers"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &prm) != nil || !slices.Equal(prm.AuthorizationServers, []string{s.gw.URL}) {
			t.Fatalf("resource metadata: %d %s, want the gateway %s as authorization server", resp.StatusCode, body, s.gw.URL)
		}
		resp, body = s.gw.Do(t, "GET", "/.well-known/oauth-authorization-server", nil)
		var asm map[string]any
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &asm) != nil {
			t.Fatalf("authorization server metadata: %d %s", resp.StatusCode, body)
		}
		for k, want := range map[string]any{
			"issuer": s.gw.URL, "authorization_endpoint": s.gw.URL + "/.portcullis/oauth/authorize",
			"token_endpoint": s.gw.URL + "/.portcullis/oauth/token", "registration_endpoint": s.gw.URL + "/.portcullis/oauth/register",
			"revocation_endpoint": s.gw.URL + "/.portcullis/oauth/revoke", "jwks_uri": s.gw.URL + "/.portcullis/oauth/jwks.json",
			"client_id_metadata_document_supported": true, "authorization_response_iss_parameter_supported": true,
		} {
			if asm[k] != want {
				t.Errorf("metadata %s = %v, want %v", k, asm[k], want)
			}
		}
		if m, _ := asm["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
			t.Errorf("code_challenge_methods_supported %v, want [S256]", asm["code_challenge_methods_supported"])
		}
		// The login provider could not serve MCP clients itself.
		req, _ := http.NewRequest("GET", s.idp.Issuer()+"/.well-known/openid-configuration", nil)
		idpResp, idpBody := harness.Send(t, req)
		if idpResp.StatusCode != 200 || strings.Contains(idpBody, "registration_endpoint") {
			t.Fatalf("the provider offers dynamic registration: %s", idpBody)
		}
	})

	var dcrToken *oauthTokens
	t.Run("dynamic registration", func(t *testing.T) {
		cs, h := s.connectSDK(t, &auth.AuthorizationCodeHandlerConfig{
			DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
				RedirectURIs: []string{s.redirect}, ClientName: hostileName, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			}},
		})
		page := s.lastConsent()
		if page == "" {
			t.Fatal("no consent page was shown")
		}
		if strings.Contains(page, `<b id="injected">`) || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;b id=") {
			t.Fatalf("the client's name is not escaped on the consent page:\n%s", page)
		}
		if !strings.Contains(page, "Test tools") || !strings.Contains(page, "tools:read") || !strings.Contains(page, "registered itself") {
			t.Errorf("the consent page does not name the resource, the scopes and the unverified client:\n%s", page)
		}
		ctx := context.Background()
		tools, err := cs.ListTools(ctx, nil)
		if err != nil || len(tools.Tools) == 0 {
			t.Fatalf("listing tools: %v", err)
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpharness.ToolWhoami})
		if err != nil || res.IsError {
			t.Fatalf("calling whoami: %v %v", err, res)
		}
		for _, hd := range s.srv.Requests() {
			if hd.Get("Authorization") != "" {
				t.Fatal("the MCP server received a token")
			}
		}
		calls := s.srv.CallsOf(mcpharness.ToolWhoami)
		if len(calls) == 0 || calls[0].Header.Get("X-Auth-Subject") != alice.ID || calls[0].Header.Get("X-Auth-Issuer") != s.gw.URL {
			t.Fatalf("the server did not see alice as issued by the gateway: %v", calls)
		}
		dcrToken = sdkTokens(t, h)
	})
	if dcrToken == nil {
		t.FailNow()
	}

	t.Run("tokens", func(t *testing.T) {
		c := claimsOf(t, dcrToken.access)
		if c["iss"] != s.gw.URL || c["aud"] != s.resource || c["sub"] != alice.ID || c["scope"] != "tools:read" || c["client_id"] == "" || c["jti"] == "" {
			t.Errorf("access token claims %v", c)
		}
		if _, ok := c["auth_time"].(float64); !ok {
			t.Errorf("no auth_time in %v", c)
		}
	})

	t.Run("per-tool rules and step-up", func(t *testing.T) {
		if code, _ := s.callTool(t, "/mcp", dcrToken.access, mcpharness.ToolEcho); code != 200 {
			t.Fatalf("echo with the gateway's token: %d", code)
		}
		n := len(s.srv.CallsOf(mcpharness.ToolDeployProd))
		code, wa := s.callTool(t, "/mcp", dcrToken.access, mcpharness.ToolDeployProd)
		if ch := challenge(t, wa); code != 403 || ch["error"] != "insufficient_scope" || !strings.Contains(ch["scope"], "tools:admin") {
			t.Fatalf("deploy_prod without tools:admin: %d %q", code, wa)
		}
		if len(s.srv.CallsOf(mcpharness.ToolDeployProd)) != n {
			t.Fatal("a refused tool call reached the server")
		}
		// /fresh needs a login of at most 1s ago: the token carries the
		// login's auth_time, which is older by now.
		c := claimsOf(t, dcrToken.access)
		at := time.Unix(int64(c["auth_time"].(float64)), 0)
		time.Sleep(time.Until(at.Add(2 * time.Second)))
		code, wa = s.callTool(t, "/fresh", dcrToken.access, mcpharness.ToolEcho)
		if ch := challenge(t, wa); code != 401 || ch["error"] != "insufficient_user_authentication" || ch["max_age"] != "1" {
			t.Fatalf("/fresh with a login older than max_age: %d %q", code, wa)
		}
	})

	t.Run("refresh rotates, reuse revokes", func(t *testing.T) {
		first := s.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {dcrToken.refresh}, "client_id": {dcrToken.clientID}})
		if first.status != 200 || first.AccessToken == "" || first.RefreshToken == "" || first.RefreshToken == dcrToken.refresh || first.CacheControl != "no-store" {
			t.Fatalf("refresh: %+v", first)
		}
		if code, _ := s.callTool(t, "/mcp", first.AccessToken, mcpharness.ToolEcho); code != 200 {
			t.Fatalf("the refreshed access token: %d", code)
		}
		replay := s.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {dcrToken.refresh}, "client_id": {dcrToken.clientID}})
		if replay.status != 400 || replay.Error != "invalid_grant" {
			t.Fatalf("a replayed refresh token: %+v", replay)
		}
		after := s.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {dcrToken.clientID}})
		if after.status != 400 || after.Error != "invalid_grant" {
			t.Fatalf("the current refresh token after a reuse: %+v, want the grant revoked", after)
		}
		logs := s.gw.Logs()
		reused := false
		for _, line := range strings.Split(logs, "\n") {
			reused = reused || strings.Contains(line, `"event":"oauth_refresh"`) && strings.Contains(line, `"reason":"refresh_token_reused"`) &&
				strings.Contains(line, `"client_id":"`+dcrToken.clientID+`"`) && strings.Contains(line, `"subject":"`+alice.ID+`"`)
		}
		if !reused {
			t.Error("no oauth_refresh event with reason refresh_token_reused, the client and the subject in the audit log")
		}
		for _, secret := range []string{dcrToken.refresh, first.RefreshToken, first.AccessToken, dcrToken.access} {
			if strings.Contains(logs, secret) {
				t.Fatal("a token is in the gateway's log")
			}
		}
	})

	cimdID := s.cimd.URL + cimdPath
	t.Run("client metadata document", func(t *testing.T) {
		cs, _ := s.connectSDK(t, &auth.AuthorizationCodeHandlerConfig{
			ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: cimdID},
		})
		if s.cimdHits.Load() == 0 {
			t.Fatal("the gateway never fetched the client's metadata document")
		}
		if page := s.lastConsent(); !strings.Contains(page, "CIMD test client") || !strings.Contains(page, cimdID) {
			t.Errorf("the consent page does not name the metadata document's client:\n%s", page)
		}
		if _, err := cs.ListTools(context.Background(), nil); err != nil {
			t.Fatalf("listing tools: %v", err)
		}
	})

	// A hand-written client with the metadata document's id: the consent
	// is remembered, so each authorization comes straight back.
	code := func(t *testing.T, challenge, resource string) string {
		t.Helper()
		q, err := s.authorizeInBrowser(s.authorizeURL(cimdID, challenge, resource, nil), true)
		if err != nil || q.Get("code") == "" || q.Get("iss") != s.gw.URL || q.Get("state") != "st-"+challenge[:8] {
			t.Fatalf("authorization: %v %v", err, q)
		}
		return q.Get("code")
	}
	exchange := func(code, verifier string) tokenResponse {
		return s.postToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {cimdID},
			"redirect_uri": {s.redirect}, "code_verifier": {verifier}, "resource": {s.resource}})
	}

	t.Run("replayed code revokes", func(t *testing.T) {
		v, ch := pkce()
		c := code(t, ch, s.resource)
		first := exchange(c, v)
		if first.status != 200 || first.RefreshToken == "" {
			t.Fatalf("exchange: %+v", first)
		}
		if again := exchange(c, v); again.status != 400 || again.Error != "invalid_grant" {
			t.Fatalf("a replayed code: %+v", again)
		}
		if r := s.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {cimdID}}); r.Error != "invalid_grant" {
			t.Fatalf("the refresh token of a replayed code: %+v, want revoked", r)
		}
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		v, ch := pkce()
		other, _ := pkce()
		c := code(t, ch, s.resource)
		if r := exchange(c, other); r.status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("a wrong verifier: %+v", r)
		}
		if r := exchange(c, v); r.status != 400 {
			t.Fatalf("the code after a failed attempt: %+v, want it spent", r)
		}
	})

	t.Run("token for another resource", func(t *testing.T) {
		v, ch := pkce()
		c := code(t, ch, s.other)
		r := s.postToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {c}, "client_id": {cimdID},
			"redirect_uri": {s.redirect}, "code_verifier": {v}})
		if r.status != 200 || claimsOf(t, r.AccessToken)["aud"] != s.other {
			t.Fatalf("a token for %s: %+v", s.other, r)
		}
		if code, wa := s.callTool(t, "/mcp", r.AccessToken, mcpharness.ToolEcho); code != 401 || challenge(t, wa)["error"] != "invalid_token" {
			t.Fatalf("a token for another resource at /mcp: %d %q", code, wa)
		}
	})

	t.Run("revocation", func(t *testing.T) {
		v, ch := pkce()
		tok := exchange(code(t, ch, s.resource), v)
		if tok.status != 200 {
			t.Fatalf("exchange: %+v", tok)
		}
		req, _ := http.NewRequest("POST", s.gw.URL+"/.portcullis/oauth/revoke", strings.NewReader(url.Values{"token": {tok.RefreshToken}, "client_id": {cimdID}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, body := harness.Send(t, req); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, body)
		}
		if r := s.postToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {cimdID}}); r.Error != "invalid_grant" {
			t.Fatalf("a revoked refresh token: %+v", r)
		}
		if !strings.Contains(s.gw.Logs(), `"event":"oauth_revocation"`) {
			t.Error("no oauth_revocation event")
		}
	})

	t.Run("confidential client", func(t *testing.T) {
		reg, _ := json.Marshal(map[string]any{"redirect_uris": []string{s.redirect}, "client_name": "Backend job",
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"authorization_code", "refresh_token"}})
		req, _ := http.NewRequest("POST", s.gw.URL+"/.portcullis/oauth/register", strings.NewReader(string(reg)))
		req.Header.Set("Content-Type", "application/json")
		resp, body := harness.Send(t, req)
		var client struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &client) != nil || client.ID == "" || client.Secret == "" {
			t.Fatalf("registration: %d %s", resp.StatusCode, body)
		}
		v, ch := pkce()
		q, err := s.authorizeInBrowser(s.authorizeURL(client.ID, ch, s.resource, nil), true)
		if err != nil || q.Get("code") == "" {
			t.Fatalf("authorization: %v %v", err, q)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {s.redirect}, "code_verifier": {v}}
		post := func(basic string, f url.Values) tokenResponse {
			req, _ := http.NewRequest("POST", s.gw.URL+"/.portcullis/oauth/token", strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if basic != "" {
				req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(basic))
			}
			resp, body := harness.Send(t, req)
			var tr tokenResponse
			_ = json.Unmarshal([]byte(body), &tr)
			tr.status = resp.StatusCode
			return tr
		}
		noSecret := url.Values{"client_id": {client.ID}}
		for k, v := range form {
			noSecret[k] = v
		}
		if r := post("", noSecret); r.status != 401 || r.Error != "invalid_client" {
			t.Fatalf("a confidential client without its secret: %+v", r)
		}
		if r := post(client.Secret+"x", form); r.status != 401 || r.Error != "invalid_client" {
			t.Fatalf("a wrong secret: %+v", r)
		}
		// The failed attempts never reached the code, which still works.
		if r := post(client.Secret, form); r.status != 200 || r.AccessToken == "" {
			t.Fatalf("with its secret: %+v", r)
		}
		if strings.Contains(s.gw.Logs(), client.Secret) {
			t.Fatal("the client secret is in the gateway's log")
		}
	})

	t.Run("token endpoint errors", func(t *testing.T) {
		for name, c := range map[string]struct {
			method string
			form   url.Values
			status int
			code   string
		}{
			"GET":                {"GET", nil, 405, "invalid_request"},
			"no client":          {"POST", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, 401, "invalid_client"},
			"unknown client":     {"POST", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"nobody"}}, 401, "invalid_client"},
			"password grant":     {"POST", url.Values{"grant_type": {"password"}, "client_id": {cimdID}}, 400, "unsupported_grant_type"},
			"no grant type":      {"POST", url.Values{"client_id": {cimdID}}, 400, "invalid_request"},
			"made-up code":       {"POST", url.Values{"grant_type": {"authorization_code"}, "code": {"made-up"}, "client_id": {cimdID}}, 400, "invalid_grant"},
			"repeated parameter": {"POST", url.Values{"grant_type": {"refresh_token", "refresh_token"}, "client_id": {cimdID}}, 400, "invalid_request"},
		} {
			req, _ := http.NewRequest(c.method, s.gw.URL+"/.portcullis/oauth/token", strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, body := harness.Send(t, req)
			var e struct {
				Error     string `json:"error"`
				RequestID string `json:"request_id"`
			}
			if resp.StatusCode != c.status || json.Unmarshal([]byte(body), &e) != nil || e.Error != c.code || e.RequestID == "" ||
				resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %d %s (Cache-Control %q), want %d %s with a request id, no-store", name, resp.StatusCode, body, resp.Header.Get("Cache-Control"), c.status, c.code)
			}
		}
	})

	t.Run("hostile metadata documents", func(t *testing.T) {
		_, ch := pkce()
		for _, path := range []string{"/huge.json", "/redirect.json", "/slow.json", "/other-redirect.json", "/wrong-id.json", "/missing.json"} {
			q, err := s.authorizeInBrowser(s.authorizeURL(s.cimd.URL+path, ch, s.resource, nil), true)
			if err == nil || !strings.Contains(err.Error(), "error page") {
				t.Errorf("client %s: %v %v, want the gateway's error page and nothing sent to the redirect URI", path, err, q)
			}
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		_, ch := pkce()
		for name, c := range map[string]struct {
			edit func(url.Values)
			want string
		}{
			"undeclared resource": {func(q url.Values) { q.Set("resource", "https://elsewhere.example/mcp") }, "invalid_target"},
			"no resource":         {func(q url.Values) { q.Del("resource") }, "invalid_target"},
			"plain PKCE":          {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
			"implicit grant":      {func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		} {
			q, err := s.authorizeInBrowser(s.authorizeURL(cimdID, ch, s.resource, c.edit), true)
			if err != nil || q.Get("error") != c.want || q.Get("code") != "" || q.Get("iss") != s.gw.URL {
				t.Errorf("%s: %v %v, want error=%s back at the client", name, err, q, c.want)
			}
		}
		// An unregistered redirect URI is never redirected to.
		_, err := s.authorizeInBrowser(s.authorizeURL(cimdID, ch, s.resource, func(q url.Values) {
			q.Set("redirect_uri", "http://127.0.0.1:1/elsewhere")
		}), true)
		if err == nil || !strings.Contains(err.Error(), "redirect_uri") {
			t.Errorf("an unregistered redirect_uri: %v, want the gateway's error page", err)
		}
	})
}

// oauthTokens are the tokens and client id an SDK client holds.
type oauthTokens struct {
	access, refresh, clientID string
}

// sdkTokens reads the SDK handler's current tokens; the client id is the
// access token's client_id claim.
func sdkTokens(t *testing.T, h *auth.AuthorizationCodeHandler) *oauthTokens {
	t.Helper()
	ts, err := h.TokenSource(context.Background())
	if err != nil || ts == nil {
		t.Fatalf("the SDK has no token source: %v", err)
	}
	tok, err := ts.Token()
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("the SDK has no access and refresh token: %v", err)
	}
	id, _ := claimsOf(t, tok.AccessToken)["client_id"].(string)
	return &oauthTokens{access: tok.AccessToken, refresh: tok.RefreshToken, clientID: id}
}
