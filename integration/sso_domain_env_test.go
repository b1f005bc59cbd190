package integration_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The single sign-on tests of issue 18: one session for every host of a
// domain, two providers with a chooser, remember-me. The gateway serves
// app.example.test, api.example.test and auth.example.test (the auth
// host) on one port, over https with a test certificate (the secure
// `__Secure-portcullis` domain cookie), or over plain http with
// insecure_cookie; Chromium resolves the hosts to 127.0.0.1 with
// --host-resolver-rules, the HTTP clients with their own dialer. The two
// providers run on other loopback addresses (other sites), and both know
// a user whose `sub` is "alice": two different people.

// domainName is the session domain of these tests.
const domainName = "example.test"

// The providers' names in the gateway's configuration.
const (
	staffIdP      = "staff"
	contractorIdP = "contractors"
)

// contractorEmailDomain routes logins to the contractors' provider.
const contractorEmailDomain = "contractor.example"

// The people: alice at the staff provider and alice at the contractors'
// provider share a `sub` and a username, nothing else.
var (
	staffAlice = oidcprovider.User{
		ID: "alice", Username: "alice", Password: "staff-password",
		Email: "alice@staff.example.test", EmailVerified: true, Name: "Alice Staff",
	}
	contractorAlice = oidcprovider.User{
		ID: "alice", Username: "alice", Password: "contractor-password",
		Email: "alice@" + contractorEmailDomain, EmailVerified: true, Name: "Alice Contractor",
	}
	contractorBob = oidcprovider.User{
		ID: "bob", Username: "bob", Password: "bob-password",
		Email: "bob@" + contractorEmailDomain, EmailVerified: true, Name: "Bob Contractor",
	}
)

// domainEnv is two providers, a recording upstream and the gateways in
// front of it (one, or replicas sharing a store).
type domainEnv struct {
	staff, contractors *oidcprovider.Provider
	up                 *harness.Upstream
	gws                []*harness.Gateway
	// scheme is "https", or "http" with domainSetup.plainHTTP.
	scheme string
	// cookieName is the session cookie's name.
	cookieName string
	// cert is the gateway's certificate (https), trusted by transport.
	cert *domainCert
}

// domainSetup configures a domainEnv.
type domainSetup struct {
	// storeLine is the store of the global option; "store memory" when
	// empty.
	storeLine string
	// sessionExtra are more lines of the session block.
	sessionExtra string
	// replicas is the number of gateways; 1 when zero.
	replicas int
	// plainHTTP serves the hosts over plain http with insecure_cookie
	// (local development) instead of https.
	plainHTTP bool
}

// startDomainEnv starts the staff provider (lenient, 127.0.0.2), the
// contractors' provider (strict, 127.0.0.3; two sites, both apart from
// the gateway's 127.0.0.1), the upstream and the gateways, and registers
// every gateway at both providers.
func startDomainEnv(t *testing.T, s domainSetup) *domainEnv {
	t.Helper()
	e := &domainEnv{
		staff: oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.2:0"), oidcprovider.WithUsers(staffAlice)),
		contractors: oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.3:0"), oidcprovider.WithProfile(oidcprovider.Strict),
			oidcprovider.WithUsers(contractorAlice, contractorBob)),
		up:         harness.StartUpstream(t),
		scheme:     "https",
		cookieName: "__Secure-portcullis",
	}
	if s.plainHTTP {
		e.scheme, e.cookieName = "http", "portcullis"
	} else {
		e.cert = newDomainCert(t)
	}
	if s.storeLine == "" {
		s.storeLine = "store memory"
	}
	for range max(s.replicas, 1) {
		e.gws = append(e.gws, harness.StartGateway(t, domainGateway(e, s), ssoEnv...))
	}
	for _, idp := range []*oidcprovider.Provider{e.staff, e.contractors} {
		c := oidcprovider.Client{ID: ssoClientID, Secret: ssoClientSecret}
		for _, gw := range e.gws {
			c.RedirectURIs = append(c.RedirectURIs, e.url(gw, "auth", "/.portcullis/callback"))
			c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, e.url(gw, "auth", "/bye"))
		}
		idp.AddClient(c)
	}
	return e
}

// gw returns the first (or only) gateway.
func (e *domainEnv) gw() *harness.Gateway { return e.gws[0] }

// domainGateway serves the three hosts on one port: /staff/* accepts
// sessions of the staff provider only, /bye is public, the rest needs a
// session of either provider.
func domainGateway(e *domainEnv, s domainSetup) harness.Caddyfile {
	return func(p harness.Ports) string {
		insecure, tlsLine := "insecure_cookie", ""
		if e.cert != nil {
			insecure, tlsLine = "", "tls "+e.cert.certFile+" "+e.cert.keyFile
		}
		return fmt.Sprintf(`{
	%[1]s
	portcullis {
		%[2]s
		session {
			keys {env.SSO_SESSION_KEYS}
			%[13]s
			domain %[3]s
			%[4]s
		}
		oidc %[5]s %[6]s {
			label "Staff"
			client_id %[7]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url %[15]s://auth.%[3]s:%[8]d/.portcullis/callback
			post_logout_redirect_url %[15]s://auth.%[3]s:%[8]d/bye
			scopes openid email profile offline_access
		}
		oidc %[9]s %[10]s {
			label "Contractors"
			client_id %[7]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url %[15]s://auth.%[3]s:%[8]d/.portcullis/callback
			post_logout_redirect_url %[15]s://auth.%[3]s:%[8]d/bye
			scopes openid email profile offline_access
			email_domains %[11]s
		}
	}
}

%[15]s://app.%[3]s:%[8]d, %[15]s://api.%[3]s:%[8]d, %[15]s://auth.%[3]s:%[8]d {
	%[14]s
	portcullis /staff/* {
		providers %[5]s
	}
	portcullis {
		allow_anonymous /bye
	}
	reverse_proxy %[12]s
}
`, p.Global(), s.storeLine, domainName, s.sessionExtra, staffIdP, e.staff.Issuer(), ssoClientID, p.HTTP,
			contractorIdP, e.contractors.Issuer(), contractorEmailDomain, e.up.Addr, insecure, tlsLine, e.scheme)
	}
}

// url is the URL of path on host ("app", "api", "auth") of gw.
func (e *domainEnv) url(gw *harness.Gateway, host, path string) string {
	return fmt.Sprintf("%s://%s.%s:%d%s", e.scheme, host, domainName, gw.Ports.HTTP, path)
}

// transport dials 127.0.0.1 for every host of the session domain, as
// Chromium's host resolver rules do, trusts the gateway's certificate,
// and never uses a proxy.
func (e *domainEnv) transport() *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && (host == domainName || strings.HasSuffix(host, "."+domainName)) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	if e.cert != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: e.cert.pool, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// do sends one request (no redirects followed, no cookie jar) with the
// session cookie value (if any) and the headers, and reads the body.
func (e *domainEnv) do(t *testing.T, method, u, cookie string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", e.cookieName+"="+cookie)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	tr := e.transport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp, b.String()
}

// domainWhoami is what /.portcullis/whoami shows.
type domainWhoami struct {
	Subject    string    `json:"sub"`
	Provider   string    `json:"provider"`
	Remembered bool      `json:"remembered"`
	Email      string    `json:"email"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
}

// whoami asks host of gw who the session cookie is: the status, and the
// answer when it is 200.
func (e *domainEnv) whoami(t *testing.T, gw *harness.Gateway, host, cookie string) (int, domainWhoami) {
	t.Helper()
	resp, body := e.do(t, "GET", e.url(gw, host, "/.portcullis/whoami"), cookie, map[string]string{"Accept": "application/json"})
	var w domainWhoami
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &w); err != nil {
			t.Fatalf("whoami at %s: %v\n%s", host, err, body)
		}
	}
	return resp.StatusCode, w
}

// wantIdentity checks what the upstream received (its echo of the
// request headers): the session of user at the provider named provider.
func wantIdentity(t *testing.T, where string, echo map[string][]string, provider string, user oidcprovider.User, issuer string) {
	t.Helper()
	want := map[string]string{
		"X-Auth-Provider": provider,
		"X-Auth-Subject":  provider + ":" + user.ID,
		"X-Auth-Email":    user.Email,
		"X-Auth-Issuer":   issuer,
		"X-Auth-Method":   "session",
	}
	for h, v := range want {
		if got := echo[h]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: the upstream got %s %q, want %q (all headers: %v)", where, h, got, v, echo)
		}
	}
	if c := strings.Join(echo["Cookie"], "; "); strings.Contains(c, "portcullis=") {
		t.Errorf("%s: the session cookie reached the upstream: %s", where, c)
	}
}
