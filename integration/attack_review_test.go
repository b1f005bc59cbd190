package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Attack review (adversarial tests written against the code of the last
// hours). A failing test here is a finding; see the report.

// startAttackDomainEnv is startDomainEnv with the site block given by
// site (the global option is domainGateway's, so both providers, the
// session domain and the auth host are as in the other domain tests).
func startAttackDomainEnv(t *testing.T, site func(e *domainEnv, p harness.Ports) string) *domainEnv {
	t.Helper()
	e := &domainEnv{
		staff: oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.2:0"), oidcprovider.WithUsers(staffAlice)),
		contractors: oidcprovider.Start(t, oidcprovider.WithAddr("127.0.0.3:0"), oidcprovider.WithProfile(oidcprovider.Strict),
			oidcprovider.WithUsers(contractorAlice, contractorBob)),
		up:         harness.StartUpstream(t),
		scheme:     "https",
		cookieName: "__Secure-portcullis",
	}
	e.cert = newDomainCert(t)
	cf := func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[1]s
	portcullis {
		store memory
		session {
			keys {env.SSO_SESSION_KEYS}
			domain %[2]s
		}
		oidc %[3]s %[4]s {
			label "Staff"
			client_id %[5]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url https://auth.%[2]s:%[6]d/.portcullis/callback
			scopes openid email profile
		}
		oidc %[7]s %[8]s {
			label "Contractors"
			client_id %[5]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url https://auth.%[2]s:%[6]d/.portcullis/callback
			scopes openid email profile
			email_domains %[9]s
		}
	}
}
`, p.Global(), domainName, staffIdP, e.staff.Issuer(), ssoClientID, p.HTTP,
			contractorIdP, e.contractors.Issuer(), contractorEmailDomain) + site(e, p)
	}
	e.gws = append(e.gws, harness.StartGateway(t, cf, ssoEnv...))
	for _, idp := range []*oidcprovider.Provider{e.staff, e.contractors} {
		idp.AddClient(oidcprovider.Client{ID: ssoClientID, Secret: ssoClientSecret,
			RedirectURIs: []string{e.url(e.gw(), "auth", "/.portcullis/callback")}})
	}
	return e
}

// TestAttackReview_ChainedHandlerSkipsProviderPin: two portcullis
// handlers run for one request (Caddy orders same-directive handlers
// by matcher specificity, so `/staff/api/*` runs before `/staff/*`).
// The second one is pinned to the staff provider, but it takes the
// principal the first one allowed without checking `providers`
// (pipeline.go identify: the prior principal path only runs
// checkPrincipal, which checks issuers, not providers). A contractors'
// session reaches a staff-only path.
func TestAttackReview_ChainedHandlerSkipsProviderPin(t *testing.T) {
	t.Parallel()
	e := startAttackDomainEnv(t, func(e *domainEnv, p harness.Ports) string {
		return fmt.Sprintf(`
https://app.%[1]s:%[2]d, https://api.%[1]s:%[2]d, https://auth.%[1]s:%[2]d {
	tls %[3]s %[4]s
	portcullis /staff/* {
		providers %[5]s
	}
	portcullis /staff/api/* {
	}
	portcullis {
	}
	reverse_proxy %[6]s
}
`, domainName, p.HTTP, e.cert.certFile, e.cert.keyFile, staffIdP, e.up.Addr)
	})
	gw := e.gw()
	a := newDomainAgent(t, e)
	a.login(e.url(gw, "app", "/.portcullis/login?provider="+contractorIdP+"&return_to=%2F"), contractorAlice.Username, contractorAlice.Password)
	ck := a.sessionCookie(e.url(gw, "api", "/"))
	if ck == "" {
		t.Fatal("no session cookie after the contractors' login")
	}
	// Control: the pinned route alone refuses the contractors' session.
	if resp, _ := e.do(t, "GET", e.url(gw, "api", "/staff/report"), ck, map[string]string{"Accept": "application/json"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("control: /staff/report with a contractors' session: %d, want 403", resp.StatusCode)
	}
	// The same pinned route, under a more specific unpinned handler.
	resp, body := e.do(t, "GET", e.url(gw, "api", "/staff/api/report"), ck, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusForbidden {
		var echo map[string][]string
		_ = json.Unmarshal([]byte(body), &echo)
		t.Fatalf("BYPASS: /staff/* is pinned to %q, but /staff/api/report answered %d to a %q session (upstream saw X-Auth-Provider %q)",
			staffIdP, resp.StatusCode, contractorIdP, echo["X-Auth-Provider"])
	}
}
