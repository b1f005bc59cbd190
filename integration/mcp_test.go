package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/mcpharness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The MCP tests put the gateway, configured as an OAuth protected resource
// (RFC 9728), in front of an unmodified MCP server built with the official
// Go SDK, and drive it with the SDK's own client and OAuth handler against
// the in-process OpenID provider.

const (
	mcpCLI           = "mcp-cli" // public client (PKCE), the SDK's preregistered client
	mcpRedirect      = "http://127.0.0.1/callback"
	mcpMachine       = "mcp-machine" // confidential client for hand-made requests
	mcpMachineSecret = "mcp-machine-secret-0123456789"
	mcpAlias         = "api://portcullis-tools"
	mcpOtherResource = "https://other.example/mcp"
	mcpDocs          = "https://example.com/docs"
)

// mcpSetup is a provider, an MCP server and the gateway in front of it.
type mcpSetup struct {
	idp      *oidcprovider.Provider
	srv      *mcpharness.Server
	gw       *harness.Gateway
	resource string // http://127.0.0.1:<port>/mcp
	metadata string // absolute URL of the path-inserted metadata document
}

// mcpGateway is the configuration of the issue. The jwt block also trusts
// tokens for another API (mcpOtherResource, as a gateway serving two
// resources would): such a token passes the signature and audience checks
// of the verifier, so only the resource binding of the MCP route can
// refuse it there.
func mcpGateway(issuer, upstream string) harness.Caddyfile {
	return func(p harness.Ports) string {
		res := fmt.Sprintf("http://127.0.0.1:%d/mcp", p.HTTP)
		return fmt.Sprintf(`{
	%s
	portcullis {
		jwt %s {
			audience %s %s
		}
		scope tools:admin implies tools:deploy tools:read
		resource %s {
			authorization_servers %s
			scopes_supported tools:read tools:deploy
			documentation %s
			audience_aliases %s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		resource %s
		accept jwt
		require tools:read
		require tools:deploy tool deploy_*
		allowed_origins http://127.0.0.1:%d
	}
	reverse_proxy %s
}
`, p.Global(), issuer, res, mcpOtherResource, res, issuer, mcpDocs, mcpAlias, p.HTTP, res, p.HTTP, upstream)
	}
}

// startMCP starts the three; opts configure the MCP server's handler (nil:
// the SDK's defaults); allowed are the scopes the public client may be
// granted at the provider (none: any).
func startMCP(t *testing.T, opts *mcp.StreamableHTTPOptions, allowed ...string) *mcpSetup {
	t.Helper()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	srv := mcpharness.StartServer(t, opts)
	gw := harness.StartGateway(t, mcpGateway(idp.Issuer(), srv.Addr))
	s := &mcpSetup{idp: idp, srv: srv, gw: gw, resource: gw.URL + "/mcp",
		metadata: gw.URL + "/.well-known/oauth-protected-resource/mcp"}
	idp.AddClient(oidcprovider.Client{ID: mcpCLI, RedirectURIs: []string{mcpRedirect},
		Audience: []string{s.resource}, AllowedScopes: allowed})
	return s
}

// token gets a client_credentials token with the scopes whose aud is the
// client ID plus audience.
func (s *mcpSetup) token(t *testing.T, audience string, scopes ...string) string {
	t.Helper()
	id := mcpMachine + "-" + strings.NewReplacer(":", "-", "/", "-", ".", "-").Replace(audience)
	s.idp.AddClient(oidcprovider.Client{ID: id, Secret: mcpMachineSecret, Audience: []string{audience},
		GrantTypes: []oidcprovider.GrantType{oidcprovider.GrantClientCredentials}})
	tok, err := s.idp.ClientCredentialsToken(context.Background(), id, mcpMachineSecret, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sdkClient is the SDK's client with its authorization-code handler, a
// preregistered public client, a fetcher that logs alice in, and a
// recorder of every HTTP exchange.
type sdkClient struct {
	rec     *mcpharness.Recorder
	fetcher *mcpharness.Fetcher
	handler *auth.AuthorizationCodeHandler
	session *mcp.ClientSession
}

// accessToken returns the access token the SDK currently sends.
func (c *sdkClient) accessToken(t *testing.T) string {
	t.Helper()
	ts, err := c.handler.TokenSource(context.Background())
	if err != nil || ts == nil {
		t.Fatalf("the SDK has no token source: %v", err)
	}
	tok, err := ts.Token()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("the SDK has no token: %v", err)
	}
	return tok.AccessToken
}

func (s *mcpSetup) connect(t *testing.T, rec *mcpharness.Recorder) *sdkClient {
	t.Helper()
	c := &sdkClient{rec: rec, fetcher: mcpharness.NewFetcher(mcpRedirect, mcpharness.User{Username: alice.Username, Password: alice.Password})}
	hc := &http.Client{Transport: rec, Timeout: 30 * time.Second}
	var err error
	c.handler, err = auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: mcpCLI},
		RedirectURL:              mcpRedirect,
		AuthorizationCodeFetcher: c.fetcher.Fetch,
		Client:                   hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "portcullis-e2e", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.session, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.resource, HTTPClient: hc,
		OAuthHandler: c.handler, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway: %v\nexchanges:\n%s\ngateway:\n%s", err, rec, s.gw.Logs())
	}
	t.Cleanup(func() { _ = c.session.Close() })
	return c
}

func (c *sdkClient) call(t *testing.T, tool string, args any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.session.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", fmt.Errorf("tool %s failed: %v", tool, res.Content)
	}
	var out []string
	for _, ct := range res.Content {
		if tc, ok := ct.(*mcp.TextContent); ok {
			out = append(out, tc.Text)
		}
	}
	return strings.Join(out, "\n"), nil
}

// challenge parses a WWW-Authenticate header with the SDK's parser and
// returns the Bearer challenge's parameters.
func challenge(t *testing.T, h string) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate([]string{h})
	if err != nil {
		t.Fatalf("the SDK cannot parse WWW-Authenticate %q: %v", h, err)
	}
	for _, c := range cs {
		if c.Scheme == "bearer" {
			return c.Params
		}
	}
	t.Fatalf("no Bearer challenge in %q", h)
	return nil
}

func scopeSet(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

// TestMCPClientAuthorizesThroughGateway: the SDK client starts with no
// token, is refused with a challenge that points at the metadata, finds
// the provider from it, logs the user in (PKCE, resource indicator), lists
// and calls tools; the server sees who called and never the token nor a
// forged identity. A tool that needs more (deploy_prod) is refused with
// insufficient_scope, the SDK steps up by itself, and the call goes through.
// The server is the SDK's default (a session, protocol 2025-11-25): the
// gateway finds the tool name in the JSON-RPC body.
func TestMCPClientAuthorizesThroughGateway(t *testing.T) {
	t.Parallel()
	testMCPClientFlow(t, nil)
}

// TestMCPClientAuthorizesThroughGatewayStateless is the same against a
// stateless server, with which the SDK speaks protocol 2026-07-28: every
// request names its method and tool in Mcp-Method and Mcp-Name headers.
func TestMCPClientAuthorizesThroughGatewayStateless(t *testing.T) {
	t.Parallel()
	testMCPClientFlow(t, &mcp.StreamableHTTPOptions{Stateless: true})
}

func testMCPClientFlow(t *testing.T, opts *mcp.StreamableHTTPOptions) {
	s := startMCP(t, opts, "tools:read", "tools:deploy")
	stateless := opts != nil && opts.Stateless
	rec := &mcpharness.Recorder{Add: http.Header{"X-Auth-Subject": {"mallory"}, "X-Auth-Scopes": {"tools:admin"}},
		AddHost: strings.TrimPrefix(s.gw.URL, "http://")}
	c := s.connect(t, rec)

	ex := rec.Exchanges()
	if len(ex) == 0 || ex[0].URL.String() != s.resource || ex[0].Header.Get("Authorization") != "" || ex[0].Status != 401 {
		t.Fatalf("the first request should be an unauthenticated 401 at %s:\n%s", s.resource, rec)
	}
	ch := challenge(t, ex[0].Authenticate())
	if ch["resource_metadata"] != s.metadata || ch["scope"] != "tools:read" || ch["error"] != "" {
		t.Errorf("first challenge %q: want resource_metadata=%s, scope=tools:read, no error", ex[0].Authenticate(), s.metadata)
	}
	if !slices.ContainsFunc(ex, func(e mcpharness.Exchange) bool { return e.URL.String() == s.metadata && e.Status == 200 }) {
		t.Errorf("the SDK did not fetch %s:\n%s", s.metadata, rec)
	}
	asked := c.fetcher.Asked()
	if len(asked) != 1 {
		t.Fatalf("authorizations: %d, want 1", len(asked))
	}
	q := asked[0].Query()
	if got := asked[0].Scheme + "://" + asked[0].Host + asked[0].Path; got != s.idp.AuthorizationURL() ||
		q.Get("client_id") != mcpCLI || q.Get("resource") != s.resource || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("scope") != "tools:read" {
		t.Errorf("authorization request %s: want the provider's endpoint, client %s, resource %s, S256 PKCE, scope tools:read",
			asked[0], mcpCLI, s.resource)
	}

	ctx := context.Background()
	tools, err := c.session.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("listing tools: %v\n%s", err, rec)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{mcpharness.ToolDeployProd, mcpharness.ToolEcho, mcpharness.ToolWhoami}) {
		t.Errorf("tools: %v", names)
	}
	if out, err := c.call(t, mcpharness.ToolEcho, map[string]any{"text": "hello through the gate"}); err != nil || out != "hello through the gate" {
		t.Fatalf("echo: %q, %v\n%s", out, err, rec)
	}
	if out, err := c.call(t, mcpharness.ToolWhoami, nil); err != nil || out != "subject="+alice.ID+" method=jwt scopes=tools:read" {
		t.Fatalf("whoami: %q, %v (want alice's subject and tools:read only: the forged headers must be gone)", out, err)
	}

	// deploy_prod needs tools:deploy: refused, stepped up by the SDK, done.
	tokens := []string{c.accessToken(t)}
	before := len(rec.Exchanges())
	out, err := c.call(t, mcpharness.ToolDeployProd, map[string]any{"service": "billing"})
	if err != nil || out != "deployed billing" {
		t.Fatalf("deploy_prod after step-up: %q, %v\n%s\ngateway:\n%s", out, err, rec, s.gw.Logs())
	}
	var refused *mcpharness.Exchange
	for _, e := range rec.Exchanges()[before:] {
		if e.Status == 403 {
			refused = &e
			break
		}
	}
	if refused == nil {
		t.Fatalf("deploy_prod was never refused before the step-up:\n%s", rec)
	}
	// Which way the gateway learnt the tool name: the SDK puts it in
	// Mcp-Name only under 2026-07-28.
	if got, want := refused.Header.Get("Mcp-Name"), map[bool]string{true: mcpharness.ToolDeployProd}[stateless]; got != want ||
		(stateless && refused.Header.Get("Mcp-Method") != "tools/call") {
		t.Errorf("the refused request had Mcp-Method %q, Mcp-Name %q; want Mcp-Name %q", refused.Header.Get("Mcp-Method"), got, want)
	}
	ch = challenge(t, refused.Authenticate())
	if ch["error"] != "insufficient_scope" || !slices.Contains(strings.Fields(ch["scope"]), "tools:deploy") ||
		ch["resource_metadata"] != s.metadata {
		t.Errorf("403 challenge %q: want insufficient_scope naming tools:deploy, and resource_metadata", refused.Authenticate())
	}
	if asked = c.fetcher.Asked(); len(asked) != 2 {
		t.Fatalf("authorizations after step-up: %d, want 2", len(asked))
	}
	if got := scopeSet(asked[1].Query().Get("scope")); !slices.Equal(got, []string{"tools:deploy", "tools:read"}) {
		t.Errorf("step-up asked for scopes %v, want tools:deploy tools:read", got)
	}
	if tokens = append(tokens, c.accessToken(t)); tokens[1] == tokens[0] {
		t.Error("the SDK kept its first token after the step-up")
	}
	if c.fetcher.Logins() != 1 {
		t.Errorf("login form filled %d times, want 1 (the step-up reuses the provider session)", c.fetcher.Logins())
	}
	// Once stepped up, the same session keeps working for both kinds of tool.
	if out, err := c.call(t, mcpharness.ToolEcho, map[string]any{"text": "again"}); err != nil || out != "again" {
		t.Fatalf("echo after step-up: %q, %v", out, err)
	}

	// What the server saw: alice on every request, never a token, never
	// the forged headers; deploy_prod ran exactly once, with tools:deploy.
	reqs := s.srv.Requests()
	if len(reqs) == 0 {
		t.Fatal("the MCP server received nothing")
	}
	for i, h := range reqs {
		if h.Get("Authorization") != "" || h.Get("X-Auth-Subject") != alice.ID || h.Get("X-Auth-Method") != "jwt" ||
			len(h.Values("X-Auth-Subject")) != 1 || len(h.Values("X-Auth-Scopes")) != 1 || slices.Contains(strings.Fields(h.Get("X-Auth-Scopes")), "tools:admin") {
			t.Errorf("request %d at the MCP server: %v", i, h)
		}
		for k, v := range h {
			for _, x := range v {
				for _, tok := range tokens {
					if strings.Contains(x, tok) || strings.Contains(tok, x) && len(x) > 20 {
						t.Errorf("request %d at the MCP server carries the access token (or part of it) in %s", i, k)
					}
				}
			}
		}
	}
	deploys := s.srv.CallsOf(mcpharness.ToolDeployProd)
	if len(deploys) != 1 || !slices.Contains(strings.Fields(deploys[0].Header.Get("X-Auth-Scopes")), "tools:deploy") {
		t.Fatalf("deploy_prod calls at the server: %+v", deploys)
	}
	t.Logf("the SDK client's exchanges:\n%s", rec)
}

// TestMCPStepUpDenied: when the provider will not grant tools:deploy, the
// step-up yields the same scopes, deploy_prod stays refused with 403, and
// the server never runs it.
func TestMCPStepUpDenied(t *testing.T) {
	t.Parallel()
	s := startMCP(t, nil, "tools:read")
	rec := &mcpharness.Recorder{}
	c := s.connect(t, rec)
	if out, err := c.call(t, mcpharness.ToolEcho, map[string]any{"text": "hi"}); err != nil || out != "hi" {
		t.Fatalf("echo: %q, %v", out, err)
	}
	before := len(rec.Exchanges())
	_, err := c.call(t, mcpharness.ToolDeployProd, map[string]any{"service": "billing"})
	if err == nil {
		t.Fatal("deploy_prod succeeded without tools:deploy")
	}
	var refusals int
	for _, e := range rec.Exchanges()[before:] {
		if e.Status == 403 {
			refusals++
			if ch := challenge(t, e.Authenticate()); ch["error"] != "insufficient_scope" || !slices.Contains(strings.Fields(ch["scope"]), "tools:deploy") {
				t.Errorf("403 challenge %q", e.Authenticate())
			}
		}
	}
	if refusals != 2 {
		t.Errorf("403s: %d, want 2 (before and after the step-up):\n%s", refusals, rec)
	}
	if len(c.fetcher.Asked()) != 2 {
		t.Errorf("authorizations: %d, want 2 (the SDK tried one step-up)", len(c.fetcher.Asked()))
	}
	if n := len(s.srv.CallsOf(mcpharness.ToolDeployProd)); n != 0 {
		t.Fatalf("the server ran deploy_prod %d times", n)
	}
	// (The SDK v1.8.0 then closes the session: a 403 after its one retry
	// is final for it.)
	if !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("the SDK's error does not say Forbidden: %v", err)
	}
}

// TestMCPResourceMetadata: the RFC 9728 documents the gateway serves are
// what the SDK's own parser accepts, name the resource they were fetched
// for, and lead to an authorization server whose metadata the SDK accepts.
func TestMCPResourceMetadata(t *testing.T) {
	t.Parallel()
	s := startMCP(t, nil)
	ctx := context.Background()

	resp, body := s.gw.Do(t, "GET", "/.well-known/oauth-protected-resource/mcp", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("metadata: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("metadata is not JSON: %v\n%s", err, body)
	}
	want := map[string]any{
		"resource":                 s.resource,
		"authorization_servers":    []any{s.idp.Issuer()},
		"scopes_supported":         []any{"tools:read", "tools:deploy"},
		"bearer_methods_supported": []any{"header"},
		"resource_documentation":   mcpDocs,
	}
	for k, v := range want {
		if fmt.Sprint(doc[k]) != fmt.Sprint(v) {
			t.Errorf("metadata %s = %v, want %v", k, doc[k], v)
		}
	}

	// The SDK's parser: resource must equal the resource the URL was made
	// from (RFC 9728 section 3.3), and the authorization servers must be
	// https or loopback.
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, s.metadata, s.resource, nil)
	if err != nil {
		t.Fatalf("the SDK refuses %s: %v", s.metadata, err)
	}
	if prm.Resource != s.resource || !slices.Equal(prm.AuthorizationServers, []string{s.idp.Issuer()}) ||
		!slices.Equal(prm.BearerMethodsSupported, []string{"header"}) || prm.ResourceDocumentation != mcpDocs {
		t.Errorf("parsed metadata: %+v", prm)
	}
	// Fetched for another resource, the same document is refused: the
	// check is real.
	if _, err := oauthex.GetProtectedResourceMetadata(ctx, s.metadata, s.gw.URL+"/other", nil); err == nil {
		t.Error("the SDK accepted the document for another resource")
	}

	// The root document exists too and is well formed.
	resp, body = s.gw.Do(t, "GET", "/.well-known/oauth-protected-resource", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("root metadata: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var root oauthex.ProtectedResourceMetadata
	if err := json.Unmarshal([]byte(body), &root); err != nil || !slices.Equal(root.AuthorizationServers, []string{s.idp.Issuer()}) {
		t.Fatalf("root metadata: %v\n%s", err, body)
	}
	// RFC 9728 section 3.3 read strictly makes the root document describe
	// the origin (the SDK's fallback fetches it for the origin and refuses
	// anything else); the gateway answers it for the route's resource, as
	// clients that match resources by prefix expect. Either is accepted
	// here; which one is logged.
	switch root.Resource {
	case s.gw.URL:
		if _, err := oauthex.GetProtectedResourceMetadata(ctx, s.gw.URL+"/.well-known/oauth-protected-resource", s.gw.URL, nil); err != nil {
			t.Errorf("the SDK refuses the root document: %v", err)
		}
	case s.resource:
		if _, err := oauthex.GetProtectedResourceMetadata(ctx, s.gw.URL+"/.well-known/oauth-protected-resource", s.resource, nil); err != nil {
			t.Errorf("the SDK refuses the root document: %v", err)
		}
	default:
		t.Errorf("root metadata names resource %q, neither the origin nor the resource", root.Resource)
	}
	t.Logf("root metadata document: %s", body)

	// The 401 points at the document.
	resp, _ = s.gw.Do(t, "POST", "/mcp", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	ch := challenge(t, resp.Header.Get("WWW-Authenticate"))
	if ch["resource_metadata"] != s.metadata || ch["realm"] != "portcullis" {
		t.Errorf("challenge %q: want realm portcullis and resource_metadata %s", resp.Header.Get("WWW-Authenticate"), s.metadata)
	}

	// The authorization server it names is one the SDK can use.
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], nil)
	if err != nil || asm == nil {
		t.Fatalf("authorization server metadata for %s: %v, %v", prm.AuthorizationServers[0], asm, err)
	}
	if asm.AuthorizationEndpoint != s.idp.AuthorizationURL() || asm.TokenEndpoint != s.idp.TokenURL() ||
		!slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		t.Errorf("authorization server metadata: %+v", asm)
	}
	t.Logf("RFC 8414 /.well-known/oauth-authorization-server at the provider: %d hit(s) (the SDK falls back to OpenID discovery on 404)",
		s.idp.Hits("/.well-known/oauth-authorization-server"))
}

// decisions returns the gateway's audit decision lines.
func decisions(gw *harness.Gateway) string {
	var out []string
	for _, l := range strings.Split(gw.Logs(), "\n") {
		if strings.Contains(l, `"event":"decision"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rawMCP is a hand-made MCP session through the gateway (protocol
// 2025-11-25: no Mcp-Method/Mcp-Name headers unless a test adds them).
type rawMCP struct {
	s       *mcpSetup
	token   string
	session string
	id      int
}

func (s *mcpSetup) raw(t *testing.T, token string) *rawMCP {
	t.Helper()
	r := &rawMCP{s: s, token: token}
	resp, body := r.post(t, map[string]any{"method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "raw", "version": "1"}}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("initialize: %d %s\ngateway:\n%s", resp.StatusCode, body, s.gw.Logs())
	}
	r.session = resp.Header.Get("Mcp-Session-Id")
	if resp, body := r.post(t, map[string]any{"method": "notifications/initialized"}, nil); resp.StatusCode != 202 {
		t.Fatalf("initialized: %d %s", resp.StatusCode, body)
	}
	return r
}

// post sends one JSON-RPC message (an id is added unless it is a
// notification) with extra headers, and returns the answer with its body.
func (r *rawMCP) post(t *testing.T, msg map[string]any, headers map[string]string) (*http.Response, string) {
	t.Helper()
	msg["jsonrpc"] = "2.0"
	if !strings.HasPrefix(msg["method"].(string), "notifications/") {
		r.id++
		msg["id"] = r.id
	}
	b, _ := json.Marshal(msg)
	req, _ := http.NewRequest("POST", r.s.resource, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.session != "" {
		req.Header.Set("Mcp-Session-Id", r.session)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	for k, v := range headers {
		req.Header[k] = append(req.Header[k], v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", r.s.resource, err)
	}
	defer resp.Body.Close()
	// An event stream: read up to the first event.
	var out strings.Builder
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "data:") {
			break
		}
	}
	return resp, out.String()
}

func (r *rawMCP) callTool(t *testing.T, tool string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	args := map[string]any{"text": "x"}
	if tool == mcpharness.ToolDeployProd {
		args = map[string]any{"service": "x"}
	}
	return r.post(t, map[string]any{"method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}}, headers)
}

// TestMCPRefusals: tokens for another resource, headers that contradict
// the JSON-RPC body, and foreign origins are refused before the server;
// an audience alias and a scope implication are honoured.
func TestMCPRefusals(t *testing.T) {
	t.Parallel()
	s := startMCP(t, nil)
	read := s.token(t, s.resource, "tools:read")
	calls := func() int { return len(s.srv.Calls()) }

	t.Run("audience", func(t *testing.T) {
		n := len(s.srv.Requests())
		for _, aud := range []string{mcpOtherResource, "https://unrelated.example/api"} {
			tok := s.token(t, aud, "tools:read", "tools:deploy")
			resp, body := s.gw.Do(t, "POST", "/mcp", bearer(tok))
			if resp.StatusCode != 401 {
				t.Fatalf("token for %s: %d %s", aud, resp.StatusCode, body)
			}
			ch := challenge(t, resp.Header.Get("WWW-Authenticate"))
			if ch["error"] != "invalid_token" || ch["resource_metadata"] != s.metadata {
				t.Errorf("token for %s: challenge %q: want invalid_token and resource_metadata", aud, resp.Header.Get("WWW-Authenticate"))
			}
		}
		if len(s.srv.Requests()) != n {
			t.Fatal("a token for another resource reached the server")
		}
		if !strings.Contains(s.gw.Logs(), `"reason":"wrong_audience"`) {
			t.Error("no wrong_audience decision: the token for the other resource was not refused by the resource binding")
		}
		// A token for the resource itself is accepted (the control).
		r := s.raw(t, s.token(t, s.resource, "tools:read"))
		if resp, body := r.callTool(t, mcpharness.ToolEcho, nil); resp.StatusCode != 200 || !strings.Contains(body, `"text":"x"`) {
			t.Errorf("token with aud %s: %d %s", s.resource, resp.StatusCode, body)
		}
	})

	t.Run("audience alias", func(t *testing.T) {
		tok := s.token(t, mcpAlias, "tools:read")
		resp, body := s.gw.Do(t, "POST", "/mcp", bearer(tok))
		if resp.StatusCode == 401 {
			t.Fatalf("a token whose aud is the alias %s (audience_aliases) is refused: %d %s %s\n%s",
				mcpAlias, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, decisions(s.gw))
		}
		r := s.raw(t, tok)
		if resp, body := r.callTool(t, mcpharness.ToolEcho, nil); resp.StatusCode != 200 || !strings.Contains(body, `"text":"x"`) {
			t.Errorf("token with aud %s: %d %s", mcpAlias, resp.StatusCode, body)
		}
	})

	t.Run("body rules", func(t *testing.T) {
		r := s.raw(t, read)
		n := calls()
		// No Mcp-Name header: the body decides.
		resp, body := r.callTool(t, mcpharness.ToolDeployProd, nil)
		if resp.StatusCode != 403 {
			t.Fatalf("deploy_prod in the body with tools:read: %d %s", resp.StatusCode, body)
		}
		ch := challenge(t, resp.Header.Get("WWW-Authenticate"))
		if ch["error"] != "insufficient_scope" || !slices.Equal(scopeSet(ch["scope"]), []string{"tools:deploy", "tools:read"}) ||
			ch["resource_metadata"] != s.metadata {
			t.Errorf("challenge %q: want insufficient_scope, scope tools:read tools:deploy, resource_metadata", resp.Header.Get("WWW-Authenticate"))
		}
		if calls() != n {
			t.Fatal("the refused call reached the server")
		}
		// Headers that agree with the body are fine.
		if resp, body := r.callTool(t, mcpharness.ToolEcho, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": mcpharness.ToolEcho}); resp.StatusCode != 200 {
			t.Fatalf("echo with agreeing headers: %d %s", resp.StatusCode, body)
		}
		// An admin token may deploy (tools:admin implies tools:deploy).
		admin := s.raw(t, s.token(t, s.resource, "tools:admin"))
		if resp, body := admin.callTool(t, mcpharness.ToolDeployProd, nil); resp.StatusCode != 200 || !strings.Contains(body, "deployed x") {
			t.Fatalf("deploy_prod with tools:admin: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("headers contradicting the body", func(t *testing.T) {
		r := s.raw(t, read)
		n := calls()
		for name, tc := range map[string]struct {
			tool    string
			headers map[string]string
		}{
			"Mcp-Name hides deploy_prod":   {mcpharness.ToolDeployProd, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": mcpharness.ToolEcho}},
			"Mcp-Name alone":               {mcpharness.ToolDeployProd, map[string]string{"Mcp-Name": mcpharness.ToolEcho}},
			"Mcp-Name names deploy_prod":   {mcpharness.ToolEcho, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": mcpharness.ToolDeployProd}},
			"Mcp-Method hides a tool call": {mcpharness.ToolDeployProd, map[string]string{"Mcp-Method": "tools/list"}},
		} {
			resp, body := r.callTool(t, tc.tool, tc.headers)
			if resp.StatusCode != 400 {
				t.Errorf("%s (body calls %s, headers %v): %d %s", name, tc.tool, tc.headers, resp.StatusCode, body)
			}
		}
		if calls() != n {
			t.Fatalf("a contradicted call reached the server: %+v", s.srv.Calls()[n:])
		}
	})

	t.Run("origin", func(t *testing.T) {
		r := s.raw(t, read)
		n := len(s.srv.Requests())
		for _, o := range []string{"http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:" + strings.TrimPrefix(s.gw.URL, "http://127.0.0.1:")} {
			resp, body := r.callTool(t, mcpharness.ToolEcho, map[string]string{"Origin": o})
			if resp.StatusCode != 403 {
				t.Errorf("Origin %s: %d %s", o, resp.StatusCode, body)
			}
		}
		// Without a token too: the origin check does not depend on it.
		resp, _ := s.gw.Do(t, "POST", "/mcp", map[string]string{"Origin": "http://evil.example"})
		if resp.StatusCode != 403 {
			t.Errorf("foreign Origin without a token: %d, want 403", resp.StatusCode)
		}
		if len(s.srv.Requests()) != n {
			t.Fatal("a request from a foreign origin reached the server")
		}
		if resp, body := r.callTool(t, mcpharness.ToolEcho, map[string]string{"Origin": s.gw.URL}); resp.StatusCode != 200 {
			t.Fatalf("allowed Origin %s: %d %s", s.gw.URL, resp.StatusCode, body)
		}
	})
}
