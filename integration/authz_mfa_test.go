package integration_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/browser"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// mfaGrace is the grace of the MFA test: long enough for a login and two
// page loads on a busy machine (a check that took longer is retried),
// short enough to wait out.
const mfaGrace = 5 * time.Second

// lastAuthRequest returns the provider's record of the latest
// authorization request.
func lastAuthRequest(t *testing.T, idp *oidcprovider.Provider) oidcprovider.AuthRequestSeen {
	t.Helper()
	seen := idp.AuthRequests()
	if len(seen) == 0 {
		t.Fatal("the provider received no authorization request")
	}
	return seen[len(seen)-1]
}

// asksForMFA reports whether an authorization request asked for a second
// factor the way the gateway does: acr_values with the multi-factor
// class, prompt=login, and max_age the grace.
func asksForMFA(a oidcprovider.AuthRequestSeen, maxAge time.Duration) bool {
	return slices.Equal(a.ACRValues, []string{oidcprovider.ACRMultiFactor}) && slices.Contains(a.Prompt, "login") &&
		a.MaxAge != nil && time.Duration(*a.MaxAge)*time.Second == maxAge
}

// secondFactor completes the provider's login page that asks for a
// second factor (#mfa-required) with u's password and one-time password,
// and waits until the browser is back at path or on another login page
// of the provider (the gateway asked again at once, or the login
// failed). It returns when the login was submitted and whether the
// browser reached path.
func secondFactor(t *testing.T, b *browser.Browser, idp *oidcprovider.Provider, gw *harness.Gateway, u oidcprovider.User, path string) (time.Time, bool) {
	t.Helper()
	b.WaitVisible("#mfa-required")
	page := b.CurrentURL()
	b.Fill("#otp", u.OTP)
	submitted := time.Now()
	b.Login(u.Username, u.Password)
	at := b.WaitURLFunc("the page "+path+" (or the provider again)", func(s string) bool {
		return s == gw.URL+path || strings.HasPrefix(s, idp.Issuer()+oidcprovider.PathLogin) && s != page
	})
	return submitted, at == gw.URL+path
}

// TestAuthzMFAForRoles: with `mfa { required_for groups admins; methods
// otp; acr <multi-factor>; grace 5s }`, an admin who logged in with a
// password alone is sent back to the provider with acr_values,
// prompt=login and max_age=5 (an API call with that session gets an RFC
// 9470 challenge); after a login whose amr shows otp the admin reaches
// the page; within the grace no new prompt; after it, a prompt again. A
// staff user is never asked.
//
// The grace runs in real time from auth_time (whole seconds), so a check
// counts as "within the grace" only when it ended less than grace-1s
// after the login was submitted; a later one proves nothing and the login
// is tried again. The check "after it" waits beyond the grace: waiting
// longer only makes it surer.
func TestAuthzMFAForRoles(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(ann, sam))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, authzGateway(idp.Issuer(), up.Addr,
		"grant orders:admin to groups admins\n\t\tmfa {\n\t\t\trequired_for groups admins\n\t\t\tmethods otp hwk\n\t\t\tacr "+oidcprovider.ACRMultiFactor+"\n\t\t\tgrace 5s\n\t\t}",
		"portcullis /admin* {\n\t\trequire orders:admin\n\t}"), ssoEnv...)
	registerGateway(idp, gw)
	const path = "/admin/panel"

	b := browser.New(t)
	b.Navigate(gw.URL + path)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(ann.Username, ann.Password) // no second factor
	b.WaitVisible("#mfa-required")
	if a := lastAuthRequest(t, idp); !asksForMFA(a, mfaGrace) {
		t.Fatalf("the gateway sent the admin back without asking for a second factor: %+v", a)
	}
	pwdOnly, ok := b.Cookie("127.0.0.1", "portcullis")
	if !ok {
		t.Fatal("no session cookie after the password login")
	}
	code, challenge, _ := asAPI(t, gw, path, pwdOnly.Value)
	if code != 401 || !strings.Contains(challenge, `error="insufficient_user_authentication"`) ||
		!strings.Contains(challenge, `acr_values="`+oidcprovider.ACRMultiFactor+`"`) || !strings.Contains(challenge, "max_age=5") {
		t.Fatalf("API call with the password-only session: %d %q, want an RFC 9470 challenge", code, challenge)
	}

	// The login with a second factor, then a check within the grace.
	var landed time.Time
	for attempt := 1; ; attempt++ {
		submitted, reached := secondFactor(t, b, idp, gw, ann, path)
		if reached {
			if s := echoed(t, b)["X-Auth-Subject"]; len(s) != 1 || s[0] != ann.ID {
				t.Fatalf("upstream subject: %v", s)
			}
			requests := len(idp.AuthRequests())
			b.Navigate(gw.URL + path)
			if b.CurrentURL() == gw.URL+path && len(idp.AuthRequests()) == requests {
				landed = time.Now() // after auth_time
				break
			}
		}
		// Refused (or asked again) within the grace: a real failure.
		if time.Since(submitted) < mfaGrace-time.Second {
			t.Fatalf("within the grace the admin was not let through (reached %v, at %s, last request %+v)", reached, b.CurrentURL(), lastAuthRequest(t, idp))
		}
		if attempt == 3 {
			t.Fatalf("%d logins in a row took longer than the grace (%v) to check", attempt, mfaGrace)
		}
		t.Logf("checked %v after the login, beyond the grace (a busy machine); again", time.Since(submitted))
		// The browser is at the provider's login page, asked again.
	}

	// After the grace (auth_time is at most `landed`), a prompt again.
	time.Sleep(time.Until(landed.Add(mfaGrace + 1500*time.Millisecond)))
	requests := len(idp.AuthRequests())
	b.Navigate(gw.URL + path)
	b.WaitVisible("#mfa-required")
	if a := lastAuthRequest(t, idp); len(idp.AuthRequests()) <= requests || !asksForMFA(a, mfaGrace) {
		t.Fatalf("after the grace: %d requests (had %d), last %+v; want a new request for a second factor", len(idp.AuthRequests()), requests, a)
	}

	// A staff user logs in with a password and is never asked.
	before := len(idp.AuthRequests())
	b2, cookie := authzLogin(t, idp, gw, sam, "/home")
	if s := echoed(t, b2)["X-Auth-Subject"]; len(s) != 1 || s[0] != sam.ID {
		t.Fatalf("staff at /home: %v", s)
	}
	b2.Navigate(gw.URL + "/home")
	if code, _, _ := asAPI(t, gw, "/home", cookie); code != 200 || b2.CurrentURL() != gw.URL+"/home" {
		t.Fatalf("staff: %d at %s", code, b2.CurrentURL())
	}
	for _, a := range idp.AuthRequests()[before:] {
		if len(a.ACRValues) > 0 {
			t.Fatalf("the staff user was asked for a second factor: %+v", a)
		}
	}
	if n := len(idp.AuthRequests()) - before; n != 1 {
		t.Fatalf("the staff user caused %d authorization requests, want 1 (the login)", n)
	}
	if !strings.Contains(gw.Logs(), `"reason":"mfa_required"`) {
		t.Error("no audit event with reason mfa_required")
	}
}

// TestAuthzACRStepUp: a route with `acr <multi-factor class>` sends a
// browser whose session has another class back to the provider with
// acr_values, and the login with a second factor opens it; an API call
// with the old session gets an RFC 9470 challenge. A route with `acr …
// when groups admins` does not ask the staff user.
func TestAuthzACRStepUp(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t, oidcprovider.WithUsers(ann, sam))
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, authzGateway(idp.Issuer(), up.Addr, "",
		"portcullis /vault* {\n\t\tacr "+oidcprovider.ACRMultiFactor+"\n\t}\n\tportcullis /ops* {\n\t\tacr "+oidcprovider.ACRMultiFactor+" when groups admins\n\t}"),
		ssoEnv...)
	registerGateway(idp, gw)
	const path = "/vault/secrets"

	b := browser.New(t)
	b.Navigate(gw.URL + path)
	b.WaitURL(idp.Issuer() + oidcprovider.PathLogin)
	b.Login(ann.Username, ann.Password)
	b.WaitVisible("#mfa-required")
	if a := lastAuthRequest(t, idp); !slices.Equal(a.ACRValues, []string{oidcprovider.ACRMultiFactor}) {
		t.Fatalf("step-up request: %+v, want acr_values %s", a, oidcprovider.ACRMultiFactor)
	}
	old, _ := b.Cookie("127.0.0.1", "portcullis")
	code, challenge, _ := asAPI(t, gw, path, old.Value)
	if code != 401 || !strings.Contains(challenge, `error="insufficient_user_authentication"`) || !strings.Contains(challenge, `acr_values="`+oidcprovider.ACRMultiFactor+`"`) {
		t.Fatalf("API call with the weaker session: %d %q", code, challenge)
	}
	if code, _, _ := asAPI(t, gw, "/ops/status", old.Value); code != 401 {
		t.Fatalf("an admin without the class reached the conditional acr route: %d", code)
	}
	if _, reached := secondFactor(t, b, idp, gw, ann, path); !reached {
		t.Fatalf("the login with a second factor did not open %s (at %s)", path, b.CurrentURL())
	}
	if s := echoed(t, b)["X-Auth-Subject"]; len(s) != 1 || s[0] != ann.ID {
		t.Fatalf("upstream subject after the step-up: %v", s)
	}

	_, cookie := authzLogin(t, idp, gw, sam, "/ops/status")
	if code, _, _ := asAPI(t, gw, "/ops/status", cookie); code != 200 {
		t.Fatalf("staff at the route whose acr is for admins only: %d", code)
	}
	if code, _, _ := asAPI(t, gw, path, cookie); code != 401 {
		t.Fatalf("staff without the class at the acr route: %d, want 401", code)
	}
}
