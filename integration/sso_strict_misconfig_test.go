package integration_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSOStrictMisconfiguredProvider: a provider the gateway cannot use
// as configured answers logins with 502 and the audit reason
// idp_misconfigured, never with a redirect, and the gateway's log names
// the cause once, however many logins meet it: an issuer written with a
// trailing slash that the provider's discovery document does not have,
// and a host that does not exist (the .invalid top-level domain, RFC
// 6761).
func TestSSOStrictMisconfiguredProvider(t *testing.T) {
	t.Parallel()
	t.Run("issuer_trailing_slash", func(t *testing.T) {
		t.Parallel()
		idp := startIdP(t, profileStrict.opts)
		up := harness.StartUpstream(t)
		gw := harness.StartGateway(t, ssoGateway(idp.Issuer()+"/", up.Addr, "store memory", ""), ssoEnv...)
		registerGateway(idp, gw)
		// Logins until the gateway has fetched the discovery document
		// again after its backoff and met the same cause.
		deadline := time.Now().Add(60 * time.Second) // "hung", not "slow"
		for attempts := 1; attempts < 3 || idp.Hits(oidcprovider.PathDiscovery) < 2; attempts++ {
			misconfiguredLogin(t, gw)
			if time.Now().After(deadline) {
				t.Fatalf("after %d logins in a minute the gateway fetched the discovery document %d times, want 2", attempts, idp.Hits(oidcprovider.PathDiscovery))
			}
			time.Sleep(200 * time.Millisecond)
		}
		line := problemLogged(t, gw, "issuer mismatch", "trailing slash")
		if !strings.Contains(line, idp.Issuer()) {
			t.Errorf("the log line does not name the issuers:\n%s", line)
		}
	})
	t.Run("host_not_found", func(t *testing.T) {
		t.Parallel()
		up := harness.StartUpstream(t)
		gw := harness.StartGateway(t, ssoGateway("https://idp.invalid", up.Addr, "store memory", ""), ssoEnv...)
		// The gateway can call a host "not found" only when this machine's
		// resolver answers so (NXDOMAIN); a machine without DNS cannot
		// tell a missing host from an outage, and the gateway must then
		// say the provider is unreachable (503), naming the host.
		var dnsErr *net.DNSError
		_, err := net.DefaultResolver.LookupHost(t.Context(), "idp.invalid")
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			for range 3 {
				misconfiguredLogin(t, gw)
			}
			problemLogged(t, gw, "not found", "idp.invalid")
			return
		}
		t.Logf("this machine's resolver gives no NXDOMAIN for idp.invalid (%v): checking the outage answer", err)
		for range 3 {
			resp, _ := gw.Do(t, "GET", "/page", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("a login at an unresolvable provider without DNS: %d, want 503", resp.StatusCode)
			}
			if reason := auditReason(t, gw, "login_failed", resp.Header.Get("X-Request-Id")); reason != "idp_unavailable" {
				t.Errorf("login_failed reason %q, want idp_unavailable", reason)
			}
		}
		if !strings.Contains(gw.Logs(), "idp.invalid") {
			t.Error("the log does not name the provider's host")
		}
	})
}

// misconfiguredLogin makes a browser's login attempt and checks that it
// is answered 502, audited as idp_misconfigured, without the cause.
func misconfiguredLogin(t *testing.T, gw *harness.Gateway) {
	t.Helper()
	resp, body := gw.Do(t, "GET", "/page", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"})
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("a login with a misconfigured provider: %d (to %q), want 502\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if reason := auditReason(t, gw, "login_failed", resp.Header.Get("X-Request-Id")); reason != "idp_misconfigured" {
		t.Errorf("login_failed reason %q, want idp_misconfigured", reason)
	}
	if strings.Contains(body, "mismatch") || strings.Contains(body, "not found") {
		t.Errorf("the answer names the cause, which is for the operator's log:\n%s", body)
	}
}

// problemLogged checks that the gateway logged "identity provider cannot
// be used as configured" exactly once, with a cause that says each of
// words, and that no other line says the first; it returns that line.
func problemLogged(t *testing.T, gw *harness.Gateway, words ...string) string {
	t.Helper()
	var problems, saying []string
	for _, line := range strings.Split(gw.Logs(), "\n") {
		if strings.Contains(line, "identity provider cannot be used as configured") {
			problems = append(problems, line)
		}
		if strings.Contains(line, words[0]) {
			saying = append(saying, line)
		}
	}
	if len(problems) != 1 || len(saying) != 1 {
		t.Fatalf("the gateway logged the problem %d times and %q %d times, want once:\n%s",
			len(problems), words[0], len(saying), strings.Join(append(problems, saying...), "\n"))
	}
	for _, w := range append(words, `"reason":"idp_misconfigured"`, `"cause":`) {
		if !strings.Contains(problems[0], w) {
			t.Errorf("the log line does not say %s:\n%s", w, problems[0])
		}
	}
	return problems[0]
}
