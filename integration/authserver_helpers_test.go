package integration_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/mcpharness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The authorization-server tests put the gateway in front of an MCP
// server as the MCP authorization server itself: its login provider (the
// harness provider) has neither dynamic registration nor resource
// indicators, and the MCP clients (the official SDK's, and a hand-written
// one for hostile requests) know nothing but the MCP server's URL.

// asSetup is the provider, the MCP server, a client metadata document
// server (https), the clients' redirect target, a Chromium and the gateway.
type asSetup struct {
	idp      *oidcprovider.Provider
	srv      *mcpharness.Server
	gw       *harness.Gateway
	b        *browser.Browser
	resource string // <gw>/mcp
	other    string // <gw>/other, a second resource of the gateway
	redirect string // http://127.0.0.1:<port>/callback
	cimd     *httptest.Server
	cimdHits atomic.Int64
	cimdName atomic.Value // string: client_name of the document
	consents []string     // text of every consent page shown
	env      []string     // the gateway's environment
	mu       sync.Mutex
}

// cimdPath is where the client metadata document is served.
const cimdPath = "/client.json"

// asGateway is the configuration: the resource names the gateway itself
// as its authorization server; alice's group readers gets tools:read,
// deploy_* needs tools:admin, which nobody is granted, and /fresh (same
// resource) needs a login of at most 1s ago.
func asGateway(idpIssuer, upstream string) harness.Caddyfile {
	return asGatewayWith(idpIssuer, upstream, "store memory", "")
}

// asGatewayWith is asGateway with a store line and, for a replica, the
// public URL (issuer and resources) of the first gateway ("": its own).
func asGatewayWith(idpIssuer, upstream, storeLine, public string) harness.Caddyfile {
	return func(p harness.Ports) string {
		base := public
		if base == "" {
			base = fmt.Sprintf("http://127.0.0.1:%d", p.HTTP)
		}
		return fmt.Sprintf(`{
	%[3]s
	portcullis {
		%[6]s
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %[4]s {
			client_id %[5]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%[1]d/.portcullis/callback
			scopes openid email profile offline_access
		}
		scope tools:admin implies tools:read
		grant tools:read to groups readers
		resource %[7]s/mcp {
			authorization_servers self
			scopes_supported tools:read tools:admin
			name "Test tools"
		}
		resource %[7]s/other {
			authorization_servers self
			scopes_supported tools:read
		}
		authorization_server {
			issuer %[7]s
			access_token_lifetime 5m
			allow_private_client_addresses
		}
	}
}

http://127.0.0.1:%[1]d {
	portcullis /fresh* {
		resource %[7]s/mcp
		accept jwt
		max_age 1s
	}
	portcullis {
		resource %[7]s/mcp
		accept jwt
		require tools:read
		require tools:admin tool deploy_*
		max_age 1h
	}
	reverse_proxy %[2]s
}
`, p.HTTP, upstream, p.Global(), idpIssuer, ssoClientID, storeLine, base)
	}
}

// startAuthServer starts everything, with the in-memory store.
func startAuthServer(t *testing.T) *asSetup { return startAuthServerWith(t, "store memory") }

// startAuthServerWith starts everything with the gateway's store line.
func startAuthServerWith(t *testing.T, storeLine string) *asSetup {
	t.Helper()
	s := &asSetup{idp: oidcprovider.Start(t, oidcprovider.WithUsers(alice)), srv: mcpharness.StartServer(t, &mcp.StreamableHTTPOptions{Stateless: true})}
	s.cimdName.Store("CIMD test client")
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("the client got the answer"))
	}))
	t.Cleanup(catcher.Close)
	s.redirect = catcher.URL + "/callback"
	s.cimd = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{
			"client_id": s.cimd.URL + r.URL.Path, "client_name": s.cimdName.Load(), "redirect_uris": []string{s.redirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none",
		}
		switch r.URL.Path {
		case cimdPath:
			s.cimdHits.Add(1)
		case "/huge.json": // far beyond the 5 KiB limit
			doc["client_uri"] = "https://client.example/" + strings.Repeat("a", 64<<10)
		case "/redirect.json":
			http.Redirect(w, r, cimdPath, http.StatusFound)
			return
		case "/slow.json": // never answers until the gateway gives up
			<-r.Context().Done()
			return
		case "/other-redirect.json":
			doc["redirect_uris"] = []string{"http://127.0.0.1:1/elsewhere"}
		case "/wrong-id.json":
			doc["client_id"] = s.cimd.URL + cimdPath
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(s.cimd.Close)
	// The gateway trusts the document server's certificate (and only it).
	ca := filepath.Join(t.TempDir(), "cimd-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cimd.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = append(slices.Clone(ssoEnv), "SSL_CERT_FILE="+ca)
	s.gw = harness.StartGateway(t, asGatewayWith(s.idp.Issuer(), s.srv.Addr, storeLine, ""), s.env...)
	registerGateway(s.idp, s.gw)
	s.resource, s.other = s.gw.URL+"/mcp", s.gw.URL+"/other"
	s.b = browser.New(t)
	return s
}

// fetch is an auth.AuthorizationCodeFetcher that plays the user in
// Chromium: it opens the authorization URL, signs alice in at the
// provider when asked, allows on the consent page (recording its text),
// and returns what reached the client's redirect URI.
func (s *asSetup) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	q, err := s.authorizeInBrowser(args.URL, true)
	if err != nil {
		return nil, err
	}
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// authorizeInBrowser opens u and goes on (signing in, allowing when
// allow, else denying) until the browser reaches the redirect URI, whose
// query it returns; or, when the gateway shows an error page instead,
// an error with the page's text. It reads the page only once its URL
// says which page it is, and waits for it to be shown (a page that is
// still navigating cannot be queried).
func (s *asSetup) authorizeInBrowser(u string, allow bool) (url.Values, error) {
	s.b.Navigate(u)
	hung := time.Now().Add(90 * time.Second) // a hung guard, not a bound
	for time.Now().Before(hung) {
		cur := s.b.CurrentURL()
		switch {
		case strings.HasPrefix(cur, s.redirect):
			pu, err := url.Parse(cur)
			if err != nil {
				return nil, err
			}
			return pu.Query(), nil
		case strings.HasPrefix(cur, s.idp.Issuer()):
			s.b.Login(alice.Username, alice.Password)
			s.b.WaitURLFunc("leaving the provider", func(u string) bool { return !strings.HasPrefix(u, s.idp.Issuer()) })
		case strings.HasPrefix(cur, s.gw.URL+"/.portcullis/oauth/authorize"):
			// The consent page or an error page: neither navigates by itself.
			s.b.WaitVisible("main")
			if !s.b.Has("#allow") {
				return nil, fmt.Errorf("the gateway answered with an error page: %s", s.b.BodyText())
			}
			s.mu.Lock()
			s.consents = append(s.consents, s.b.HTML())
			s.mu.Unlock()
			if allow {
				s.b.Click("#allow")
			} else {
				s.b.Click("#deny")
			}
			s.b.WaitURLFunc("leaving the consent page", func(u string) bool { return !strings.HasPrefix(u, s.gw.URL+"/.portcullis/oauth/authorize") })
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil, fmt.Errorf("the authorization did not reach %s; the browser is at %s", s.redirect, s.b.CurrentURL())
}

// lastConsent returns the HTML of the last consent page.
func (s *asSetup) lastConsent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.consents) == 0 {
		return ""
	}
	return s.consents[len(s.consents)-1]
}

// connectSDK connects the SDK's client with handler configuration cfg
// (its registration method) through the gateway.
func (s *asSetup) connectSDK(t *testing.T, cfg *auth.AuthorizationCodeHandlerConfig) (*mcp.ClientSession, *auth.AuthorizationCodeHandler) {
	t.Helper()
	hc := &http.Client{Timeout: 60 * time.Second}
	cfg.RedirectURL, cfg.AuthorizationCodeFetcher, cfg.Client, cfg.RequestRefreshToken = s.redirect, s.fetch, hc, true
	h, err := auth.NewAuthorizationCodeHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "portcullis-as-e2e", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.resource, HTTPClient: hc, OAuthHandler: h, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connecting through the gateway: %v\ngateway:\n%s", err, s.gw.Logs())
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, h
}

// pkce is a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	CacheControl string
}

// postToken posts form to the token endpoint.
func (s *asSetup) postToken(t *testing.T, form url.Values) tokenResponse {
	t.Helper()
	req, err := http.NewRequest("POST", s.gw.URL+"/.portcullis/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := harness.Send(t, req)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatalf("token endpoint: %d %q", resp.StatusCode, body)
	}
	tr.status, tr.CacheControl = resp.StatusCode, resp.Header.Get("Cache-Control")
	return tr
}

// authorizeURL is an authorization request of client for resource.
func (s *asSetup) authorizeURL(clientID, challenge, resource string, edit func(url.Values)) string {
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {s.redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {resource}, "state": {"st-" + challenge[:8]}}
	if edit != nil {
		edit(q)
	}
	return s.gw.URL + "/.portcullis/oauth/authorize?" + q.Encode()
}

// callTool posts one tools/call to path with token and returns the status
// and the WWW-Authenticate header.
func (s *asSetup) callTool(t *testing.T, path, token, tool string) (int, string) {
	t.Helper()
	args := map[string]any{"text": "x"}
	if tool == mcpharness.ToolDeployProd {
		args = map[string]any{"service": "x"}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
	req, err := http.NewRequest("POST", s.gw.URL+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, _ := harness.Send(t, req)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// claimsOf decodes a JWT's payload (no verification: the gateway did that).
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// jsonUnmarshal decodes a JSON body.
func jsonUnmarshal(body string, v any) error { return json.Unmarshal([]byte(body), v) }
