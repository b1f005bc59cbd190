package integration_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The hostile-client tests send client registrations and Client ID
// Metadata Documents built to hurt the gateway (huge, endless, slow,
// redirecting, on loopback or cloud-metadata addresses, claiming another
// client's id, carrying secrets or markup) to the running gateway's
// authorization server, and check that each is refused with a clear 4xx
// (or 503), a request id and the audit reason, and that nothing internal
// leaks. No browser is needed: the gateway resolves the client before it
// asks anyone to sign in.

// clientRegGateway is a gateway that is its resources' authorization
// server; extra goes into the authorization_server block.
func clientRegGateway(idpIssuer, extra string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[2]s
	portcullis {
		store memory
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %[3]s {
			client_id %[4]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%[1]d/.portcullis/callback
		}
		resource http://127.0.0.1:%[1]d/mcp {
			authorization_servers self
			scopes_supported tools:read
		}
		authorization_server {
			issuer http://127.0.0.1:%[1]d
			%[5]s
		}
	}
}

http://127.0.0.1:%[1]d {
	portcullis {
		resource http://127.0.0.1:%[1]d/mcp
		accept jwt
		require tools:read
	}
	respond "upstream"
}
`, p.HTTP, p.Global(), idpIssuer, ssoClientID, extra)
	}
}

// hostileDocs is an https server of client metadata documents, good and
// hostile, by path.
type hostileDocs struct {
	*httptest.Server
	hits        atomic.Int64
	pathHits    map[string]*atomic.Int64
	endlessDone chan error // the endless handler's final write error
	release     chan struct{}
}

// hostileDocPaths are the documents hostileDocs serves.
var hostileDocPaths = []string{"/good", "/html-name", "/huge", "/endless", "/slow", "/redirect", "/mismatch",
	"/secret", "/secret-method", "/not-json", "/duplicate-id", "/js-redirect-uri"}

func startHostileDocs(t *testing.T, redirect string) *hostileDocs {
	t.Helper()
	d := &hostileDocs{pathHits: map[string]*atomic.Int64{}, endlessDone: make(chan error, 4), release: make(chan struct{})}
	for _, p := range hostileDocPaths {
		d.pathHits[p] = new(atomic.Int64)
	}
	doc := func(id string, extra map[string]any) []byte {
		m := map[string]any{"client_id": id, "client_name": "Hostile test client", "redirect_uris": []string{redirect},
			"token_endpoint_auth_method": "none"}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	d.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		if c, ok := d.pathHits[r.URL.Path]; ok {
			c.Add(1)
		}
		self := "https://" + r.Host + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/good":
			_, _ = w.Write(doc(self, nil))
		case "/html-name":
			_, _ = w.Write(doc(self, map[string]any{"client_name": hostileName}))
		case "/huge":
			_, _ = w.Write(doc(self, map[string]any{"client_name": strings.Repeat("A", 100<<10)}))
		case "/endless":
			_, _ = w.Write([]byte(`{"client_id":"` + self + `","client_name":"`))
			chunk := []byte(strings.Repeat("B", 4096))
			for {
				if _, err := w.Write(chunk); err != nil {
					d.endlessDone <- err
					return
				}
				w.(http.Flusher).Flush()
			}
		case "/slow":
			_, _ = w.Write([]byte(`{"client_id":`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-d.release:
			}
		case "/redirect":
			w.Header().Del("Content-Type")
			http.Redirect(w, r, "https://"+r.Host+"/good", http.StatusFound)
		case "/mismatch":
			_, _ = w.Write(doc("https://"+r.Host+"/good", nil))
		case "/secret":
			_, _ = w.Write(doc(self, map[string]any{"client_secret": "doc-secret"}))
		case "/secret-method":
			_, _ = w.Write(doc(self, map[string]any{"token_endpoint_auth_method": "client_secret_basic"}))
		case "/not-json":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>not a client</body></html>"))
		case "/duplicate-id":
			_, _ = fmt.Fprintf(w, `{"client_id":"https://elsewhere.example/c","client_id":%q,"redirect_uris":[%q]}`, self, redirect)
		case "/js-redirect-uri":
			_, _ = w.Write(doc(self, map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		close(d.release)
		d.Close()
	})
	return d
}

// caFile writes srv's certificate where SSL_CERT_FILE can name it.
func caFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "docs-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// authorizeClient asks gw to authorize clientID (no session, no
// browser) and returns the answer.
func authorizeClient(t *testing.T, gw *harness.Gateway, clientID, redirect string) (*http.Response, string) {
	t.Helper()
	_, challenge := pkce()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {gw.URL + "/mcp"}, "state": {"s"}}
	return gw.Do(t, "GET", "/.portcullis/oauth/authorize?"+q.Encode(), nil)
}

// register posts body to gw's registration endpoint.
func register(t *testing.T, gw *harness.Gateway, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", gw.URL+"/.portcullis/oauth/register", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return harness.Send(t, req)
}

// oauthError is an RFC 7591 / RFC 6749 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	RequestID   string `json:"request_id"`
}

// TestClientRegHostileDocuments: hostile metadata documents, with
// private addresses allowed so the documents' server on loopback is
// reached and their content is what gets them refused.
func TestClientRegHostileDocuments(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	const redirect = "http://127.0.0.1:9/callback"
	docs := startHostileDocs(t, redirect)
	gw := harness.StartGateway(t, clientRegGateway(idp.Issuer(), "allow_private_client_addresses"),
		append(ssoEnv, "SSL_CERT_FILE="+caFile(t, docs.Server))...)
	registerGateway(idp, gw)

	// The good document resolves: the gateway goes on to sign the user
	// in (a redirect to its login), which shows the fetch and checks work.
	for _, p := range []string{"/good", "/html-name"} {
		resp, body := authorizeClient(t, gw, docs.URL+p, redirect)
		if resp.StatusCode != http.StatusFound || strings.HasPrefix(resp.Header.Get("Location"), redirect) {
			t.Fatalf("%s: %d %s (Location %q), want a redirect to sign in\n%s", p, resp.StatusCode, body, resp.Header.Get("Location"), gw.Logs())
		}
	}

	tests := []struct {
		path, reason string
		status       int
	}{
		{"/huge", "metadata_too_large", 400},
		{"/endless", "metadata_too_large", 400},
		{"/slow", "metadata_timeout", 503},
		{"/redirect", "metadata_redirect", 400},
		{"/mismatch", "metadata_client_id_mismatch", 400},
		{"/secret", "metadata_symmetric_secret", 400},
		{"/secret-method", "metadata_symmetric_secret", 400},
		{"/not-json", "metadata_content_type", 400},
		{"/duplicate-id", "metadata_malformed", 400},
		{"/js-redirect-uri", "invalid_redirect_uri", 400},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			t.Parallel()
			resp, body := authorizeClient(t, gw, docs.URL+tc.path, redirect)
			rid := resp.Header.Get("X-Request-Id")
			reason := auditReason(t, gw, "oauth_authorization", rid)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != "" || reason != tc.reason {
				t.Fatalf("%d (Location %q, audit reason %q), want %d %s and no redirect:\n%s", resp.StatusCode, resp.Header.Get("Location"), reason, tc.status, tc.reason, body)
			}
			if !strings.Contains(body, rid) {
				t.Errorf("the error page carries no request id (%q)", rid)
			}
			if strings.Contains(body, docs.Listener.Addr().String()) || strings.Contains(body, "dial") {
				t.Errorf("the error page shows internal detail:\n%s", body)
			}
			// Refusals are remembered briefly: asking again fetches nothing.
			before := docs.pathHits[tc.path].Load()
			again, _ := authorizeClient(t, gw, docs.URL+tc.path, redirect)
			if again.StatusCode != tc.status || docs.pathHits[tc.path].Load() != before {
				t.Errorf("a second attempt: %d, %d more fetches; want %d from the cache", again.StatusCode, docs.pathHits[tc.path].Load()-before, tc.status)
			}
		})
	}

	t.Run("endless document is cut off", func(t *testing.T) {
		t.Parallel()
		resp, _ := authorizeClient(t, gw, docs.URL+"/endless?cut", redirect)
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		select {
		case err := <-docs.endlessDone:
			if err == nil {
				t.Fatal("the endless handler stopped without a write error")
			}
		case <-time.After(60 * time.Second): // "hung", not "slow"
			t.Fatal("hung: the gateway kept reading the endless document")
		}
	})

	t.Run("unregistered redirect uri", func(t *testing.T) {
		t.Parallel()
		for _, other := range []string{"http://127.0.0.1:9/elsewhere", "https://evil.example/callback", redirect + "/"} {
			resp, body := authorizeClient(t, gw, docs.URL+"/good", other)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Errorf("redirect_uri %s: %d (Location %q), want 400 and never a redirect:\n%s", other, resp.StatusCode, resp.Header.Get("Location"), body)
				continue
			}
			if got := auditReason(t, gw, "oauth_authorization", resp.Header.Get("X-Request-Id")); got != "redirect_uri_mismatch" {
				t.Errorf("redirect_uri %s: audit reason %q", other, got)
			}
		}
		// RFC 8252 §7.3: another port of the loopback literal is the same URI.
		resp, _ := authorizeClient(t, gw, docs.URL+"/good", "http://127.0.0.1:10/callback")
		if resp.StatusCode != http.StatusFound {
			t.Errorf("the loopback port exception: %d, want a redirect to sign in", resp.StatusCode)
		}
	})
}

// TestClientRegPrivateAddresses: without allow_private_client_addresses
// the gateway does not connect to loopback, private or cloud-metadata
// addresses, by name or by literal; the document server on loopback sees
// no request. Dynamic registration is turned off there too.
func TestClientRegPrivateAddresses(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	const redirect = "http://127.0.0.1:9/callback"
	docs := startHostileDocs(t, redirect)
	gw := harness.StartGateway(t, clientRegGateway(idp.Issuer(), "dynamic_registration off"),
		append(ssoEnv, "SSL_CERT_FILE="+caFile(t, docs.Server))...)
	registerGateway(idp, gw)
	port := docs.Listener.Addr().String()[strings.LastIndex(docs.Listener.Addr().String(), ":")+1:]

	for _, id := range []string{
		"https://localhost:" + port + "/good",
		"https://127.0.0.1:" + port + "/good",
		"https://[::ffff:127.0.0.1]:" + port + "/good",
		"https://[::1]:" + port + "/good",
		"https://169.254.169.254/latest/meta-data/iam",
		"https://[::ffff:a9fe:a9fe]/latest/meta-data/iam",
		"https://10.0.0.1/client.json",
		"https://100.100.100.200/client.json",
	} {
		resp, body := authorizeClient(t, gw, id, redirect)
		rid := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d, want 400:\n%s", id, resp.StatusCode, body)
			continue
		}
		if got := auditReason(t, gw, "oauth_authorization", rid); got != "metadata_private_address" {
			t.Errorf("%s: audit reason %q, want metadata_private_address", id, got)
		}
		if strings.Contains(body, ":"+port) || strings.Contains(body, "169.254") || strings.Contains(body, "dial") {
			t.Errorf("%s: the page names the address:\n%s", id, body)
		}
	}
	// At the token endpoint too: invalid_client, nothing fetched.
	req, err := http.NewRequest("POST", gw.URL+"/.portcullis/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"https://localhost:" + port + "/good"},
		"redirect_uri": {redirect}, "code_verifier": {strings.Repeat("v", 43)}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := harness.Send(t, req)
	var e oauthError
	if resp.StatusCode != 401 || json.Unmarshal([]byte(body), &e) != nil || e.Error != "invalid_client" {
		t.Errorf("token endpoint: %d %s, want 401 invalid_client", resp.StatusCode, body)
	}
	if n := docs.hits.Load(); n != 0 {
		t.Errorf("the document server on loopback got %d requests", n)
	}

	resp, body = register(t, gw, `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	if resp.StatusCode != 403 || json.Unmarshal([]byte(body), &e) != nil || e.Error != "access_denied" || e.RequestID == "" {
		t.Errorf("registration turned off: %d %s, want 403 access_denied with a request id", resp.StatusCode, body)
	}
}

// TestClientRegHostileRegistrations: RFC 7591 registrations with bad
// metadata are refused per §3.2.2; a hostile name is kept verbatim and
// sent back as JSON, never as markup; a confidential client's secret is
// checked at the token endpoint and never logged.
func TestClientRegHostileRegistrations(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
	gw := harness.StartGateway(t, clientRegGateway(idp.Issuer(), ""), ssoEnv...)
	registerGateway(idp, gw)

	tests := []struct {
		name, body, code string
		status           int
	}{
		{"not json", `redirect_uris=https://app.example/cb`, "invalid_client_metadata", 400},
		{"array", `[{"redirect_uris":["https://app.example/cb"]}]`, "invalid_client_metadata", 400},
		{"duplicate member", `{"redirect_uris":["https://app.example/cb"],"redirect_uris":["https://evil.example/cb"]}`, "invalid_client_metadata", 400},
		{"trailing data", `{"redirect_uris":["https://app.example/cb"]}{"x":1}`, "invalid_client_metadata", 400},
		{"lone surrogate", `{"redirect_uris":["https://app.example/cb"],"client_name":"\ud800"}`, "invalid_client_metadata", 400},
		{"no redirect uris", `{"client_name":"x"}`, "invalid_client_metadata", 400},
		{"http redirect", `{"redirect_uris":["http://evil.example/cb"]}`, "invalid_redirect_uri", 400},
		{"fragment", `{"redirect_uris":["https://app.example/cb#frag"]}`, "invalid_redirect_uri", 400},
		{"javascript", `{"redirect_uris":["javascript:alert(document.cookie)"]}`, "invalid_redirect_uri", 400},
		{"implicit", `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", 400},
		{"client credentials", `{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata", 400},
		{"secret jwt", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_jwt"}`, "invalid_client_metadata", 400},
		{"control in name", `{"redirect_uris":["https://app.example/cb"],"client_name":"Good\u202eliveD"}`, "invalid_client_metadata", 400},
		{"large", `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("x", 20<<10) + `"}`, "invalid_client_metadata", 400},
		{"huge", `{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("x", 100<<10) + `"}`, "invalid_client_metadata", 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := register(t, gw, tc.body)
			var e oauthError
			if resp.StatusCode != tc.status || json.Unmarshal([]byte(body), &e) != nil || e.Error != tc.code {
				t.Fatalf("%d %.300s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if e.RequestID == "" || e.Description == "" {
				t.Errorf("no request id or description: %s", body)
			}
			if strings.Contains(e.Description, "json:") || strings.Contains(e.Description, "at byte") {
				t.Errorf("the description shows parser internals: %q", e.Description)
			}
		})
	}

	t.Run("markup in the name is data", func(t *testing.T) {
		t.Parallel()
		body, _ := json.Marshal(map[string]any{"client_name": hostileName, "redirect_uris": []string{"http://127.0.0.1:9/callback"}, "token_endpoint_auth_method": "none"})
		resp, out := register(t, gw, string(body))
		if resp.StatusCode != 201 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %s (%v)", resp.StatusCode, out, resp.Header)
		}
		var got struct {
			ClientID string `json:"client_id"`
			Name     string `json:"client_name"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != hostileName || got.ClientID == "" {
			t.Fatalf("the name came back as %q (%v), want it verbatim", got.Name, err)
		}
		if strings.Contains(out, "<b ") || strings.Contains(out, "<img") {
			t.Errorf("the response carries raw markup: %s", out)
		}
		// The registered client goes on to sign-in; an unregistered
		// redirect URI is refused without a redirect.
		if resp, _ := authorizeClient(t, gw, got.ClientID, "http://127.0.0.1:9/callback"); resp.StatusCode != http.StatusFound {
			t.Errorf("authorize the registered client: %d, want a redirect to sign in", resp.StatusCode)
		}
		if resp, _ := authorizeClient(t, gw, got.ClientID, "https://evil.example/callback"); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("an unregistered redirect uri: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("confidential client secret", func(t *testing.T) {
		t.Parallel()
		resp, out := register(t, gw, `{"redirect_uris":["https://app.example/cb"],"client_name":"Confidential"}`)
		var got struct {
			ClientID  string `json:"client_id"`
			Secret    string `json:"client_secret"`
			ExpiresAt *int64 `json:"client_secret_expires_at"`
			Method    string `json:"token_endpoint_auth_method"`
		}
		if resp.StatusCode != 201 || json.Unmarshal([]byte(out), &got) != nil || got.Secret == "" || got.ExpiresAt == nil || got.Method != "client_secret_basic" {
			t.Fatalf("%d %s, want a client_secret_basic client with a secret", resp.StatusCode, out)
		}
		token := func(secret string) (int, oauthError) {
			req, err := http.NewRequest("POST", gw.URL+"/.portcullis/oauth/token", strings.NewReader(url.Values{
				"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {"https://app.example/cb"},
				"code_verifier": {strings.Repeat("v", 43)}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(got.ClientID), url.QueryEscape(secret))
			resp, body := harness.Send(t, req)
			var e oauthError
			_ = json.Unmarshal([]byte(body), &e)
			return resp.StatusCode, e
		}
		for _, wrong := range []string{got.Secret + "x", got.Secret[:len(got.Secret)-1], "guess"} {
			if status, e := token(wrong); status != 401 || e.Error != "invalid_client" {
				t.Errorf("a wrong secret: %d %+v, want 401 invalid_client", status, e)
			}
		}
		// The right secret authenticates; the bogus code is then refused.
		if status, e := token(got.Secret); status != 400 || e.Error != "invalid_grant" {
			t.Errorf("the right secret: %d %+v, want 400 invalid_grant (client authenticated)", status, e)
		}
		if strings.Contains(gw.Logs(), got.Secret) || strings.Contains(gw.Logs(), got.Secret[:20]) {
			t.Error("the client secret is in the gateway's log")
		}
	})
}
