package integration_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSOStrictRefreshUpdatesGroups: a group removed at the strict
// provider (which serves groups only through UserInfo) is gone from the
// session after the next refresh, and a group added back returns: the
// upstream sees the new groups and the `require_claim groups admins`
// route closes and opens again.
//
// The provider's access tokens live a few seconds; waiting that long
// after a change at the provider makes the gateway's tokens due for
// refresh, however long the machine took before the change.
func TestSSOStrictRefreshUpdatesGroups(t *testing.T) {
	t.Parallel()
	const life = 5 * time.Second
	idp := startIdP(t, profileStrict.opts, oidcprovider.WithAccessTokenLifetime(life))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoSite(idp.Issuer(), "store memory", "", strictSite(up.Addr)), ssoEnv...)
	registerGateway(idp, gw)

	b := browser.New(t)
	admin, reports := gw.URL+"/admin/panel", gw.URL+"/reports"
	open := func(u string) {
		t.Helper()
		b.Navigate(u)
		b.WaitURLFunc(u, func(got string) bool { return got == u })
	}
	b.Navigate(admin)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(alice.Username, alice.Password)
	b.WaitURLFunc("the admin page", func(u string) bool { return u == admin })
	checkUpstreamIdentity(t, browserEcho(t, b), map[string]string{"X-Auth-Groups": "admins,readers"})

	// Removed from admins at the provider.
	idp.SetGroups(alice.ID, "readers")
	time.Sleep(life)
	before := up.Count()
	open(admin)
	if up.Count() != before {
		t.Fatalf("the admin page reached the upstream after admins was removed at the provider:\n%s", b.BodyText())
	}
	open(reports)
	checkUpstreamIdentity(t, browserEcho(t, b), map[string]string{"X-Auth-Subject": alice.ID, "X-Auth-Groups": "readers"})

	// Back in admins.
	idp.SetGroups(alice.ID, "admins", "readers")
	time.Sleep(life)
	open(admin)
	checkUpstreamIdentity(t, browserEcho(t, b), map[string]string{"X-Auth-Subject": alice.ID, "X-Auth-Groups": "admins,readers"})

	if n := len(auditEvents(gw, "refresh")); n < 2 {
		t.Errorf("%d refresh audit events, want at least 2", n)
	}
	if evs := auditEvents(gw, "refresh_failed"); len(evs) > 0 {
		t.Errorf("refreshes failed: %+v", evs)
	}
	if n := idp.Hits(oidcprovider.PathUserinfo); n < 3 {
		t.Errorf("UserInfo calls: %d, want at least 3 (the login and each refresh)", n)
	}
	if len(idp.AuthRequests()) != 1 {
		t.Errorf("%d authorization requests, want 1: the groups changed without a new login", len(idp.AuthRequests()))
	}
}

// TestSSOStrictRefreshRefused: a refresh the provider refuses
// (invalid_grant) ends the session at the first request that needs it,
// audited as refresh_failed with the reason refresh_refused.
//
// The provider's refresh tokens expire at once, so the refresh the
// gateway tries once the access token has expired is refused; the test
// never sees the gateway's refresh token to revoke it itself.
func TestSSOStrictRefreshRefused(t *testing.T) {
	t.Parallel()
	const life = 4 * time.Second
	idp := startIdP(t, profileStrict.opts, oidcprovider.WithAccessTokenLifetime(life), oidcprovider.WithRefreshTokenLifetime(time.Nanosecond))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)
	cookie := newAgent(t).loginAt(gw, "/")
	time.Sleep(life)

	if got := withSession(t, gw, "/orders", cookie); got != http.StatusUnauthorized {
		t.Fatalf("the first request after the access token expired: %d, want 401", got)
	}
	ev := awaitAudit(gw, func(e auditEvent) bool { return e.Event == "refresh_failed" })
	if ev.Reason != "refresh_refused" || ev.Subject != alice.ID {
		t.Errorf("refresh_failed audit event: %+v, want reason refresh_refused for %s", ev, alice.ID)
	}
	if got := withSession(t, gw, "/orders", cookie); got != http.StatusUnauthorized {
		t.Errorf("the session after the refused refresh: %d, want 401", got)
	}
	if n := idp.Hits(oidcprovider.PathToken); n != 2 {
		t.Errorf("token endpoint calls: %d, want 2 (the code exchange and one refresh)", n)
	}
	if up.Count() != 0 {
		t.Errorf("the upstream received %d requests, want none", up.Count())
	}
}

// TestSSOStrictNoRefreshToken: with offline_access but prompt=login
// (not consent), the strict provider issues no refresh token; the gateway
// says so once in its log however many users log in, and the logins
// work.
func TestSSOStrictNoRefreshToken(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, profileStrict.opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoSiteWith(idp.Issuer(), "store memory", "", "prompt login", strictSite(up.Addr)), ssoEnv...)
	registerGateway(idp, gw)
	const logins = 3
	for range logins {
		if got := withSession(t, gw, "/orders", newAgent(t).loginAt(gw, "/")); got != 200 {
			t.Fatalf("a session without a refresh token: %d", got)
		}
	}
	for _, ar := range idp.AuthRequests() {
		if !slices.Equal(ar.Prompt, []string{"login"}) || !slices.Contains(ar.Scopes, "offline_access") || slices.Contains(ar.GrantedScopes, "offline_access") {
			t.Errorf("authorization request prompt %q, scopes %q, granted %q: want prompt=login and offline_access asked for, not granted",
				ar.Prompt, ar.Scopes, ar.GrantedScopes)
		}
	}
	// Every login's audit event is in the log, so is anything the
	// gateway logged during the logins.
	if n := len(awaitAuditCount(gw, "login", logins)); n != logins {
		t.Fatalf("%d login audit events, want %d", n, logins)
	}
	var said []string
	for _, line := range strings.Split(gw.Logs(), "\n") {
		if strings.Contains(line, "no_refresh_token") {
			said = append(said, line)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "identity provider problem") || !strings.Contains(said[0], `"component":"refresh_token"`) {
		t.Fatalf("the gateway's log says no_refresh_token %d times, want once (an identity provider problem of component refresh_token):\n%s",
			len(said), strings.Join(said, "\n"))
	}
}

// awaitAuditCount returns the gateway's audit events of kind event once
// there are n of them, or those there are after a while.
func awaitAuditCount(gw *harness.Gateway, event string, n int) []auditEvent {
	deadline := time.Now().Add(10 * time.Second) // "hung", not "slow"
	for {
		evs := auditEvents(gw, event)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(50 * time.Millisecond)
	}
}
