package integration_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSODomainCallbackPerProvider: a provider's own redirect URI
// (/.portcullis/callback/<name>) completes only that provider's logins:
// a response to the contractors' login brought to the staff provider's
// callback is refused (state_mismatch) without any code exchange, and
// an unknown provider's callback is 404. This is the relying party's
// defense against OAuth mix-up (RFC 9700 §4.4) when providers do not
// send RFC 9207 iss.
func TestSSODomainCallbackPerProvider(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{})
	gw := e.gw()
	a := newDomainAgent(t, e)
	// Start a contractors login and stop at the provider: its
	// authorization request carries the flow's state.
	_, body := a.navigate(e.url(gw, "auth", "/.portcullis/login?provider="+contractorIdP+"&return_to=/"))
	next, _, ok := landingTargets(parsePage(t, body))
	if !ok || !strings.HasPrefix(next, e.contractors.AuthorizationURL()+"?") {
		t.Fatalf("the login did not continue to the contractors' provider: %q", next)
	}
	authz, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	state := authz.Query().Get("state")
	exchanges := e.staff.Hits(oidcprovider.PathToken) + e.contractors.Hits(oidcprovider.PathToken)
	q := url.Values{"state": {state}, "code": {"a-code-from-elsewhere"}}
	resp, _ := a.navigate(e.url(gw, "auth", "/.portcullis/callback/"+staffIdP+"?"+q.Encode()))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the contractors' response at the staff callback: %d, want 400", resp.StatusCode)
	}
	if ev := awaitAudit(gw, func(ev auditEvent) bool { return ev.Event == "login_failed" && ev.Reason == "state_mismatch" }); ev.Event == "" {
		t.Fatal("no login_failed event with reason state_mismatch")
	}
	if got := e.staff.Hits(oidcprovider.PathToken) + e.contractors.Hits(oidcprovider.PathToken); got != exchanges {
		t.Fatalf("a code was exchanged for a response at the wrong provider's callback (%d token requests)", got-exchanges)
	}
	if resp, _ := a.navigate(e.url(gw, "auth", "/.portcullis/callback/nobody?"+q.Encode())); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown provider's callback: %d, want 404", resp.StatusCode)
	}
}
