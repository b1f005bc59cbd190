package integration_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The session lifetimes of the remember-me test: a short absolute (and
// idle) timeout, and a remembered lifetime no test run reaches.
const (
	rememberAbsolute = 5 * time.Second
	rememberLifetime = time.Hour
)

// TestSSODomainRememberMe: in Chromium, a login with the chooser's
// "remember me" box ticked (through its label) gets a session of
// remember_me's lifetime; a login without gets absolute_timeout. Once
// the plain session's expiry, as whoami reported it, has passed, the
// plain session is refused (audit: absolute_timeout) and the remembered
// one, older than it, still works.
//
// No wall-clock bound must hold: the test sleeps until the expiry the
// gateway reported, so a slow machine only waits less. The one race is
// the plain session expiring before its first check (a login slower
// than absolute_timeout); that is detected and the login tried again.
func TestSSODomainRememberMe(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{sessionExtra: "idle_timeout " + rememberAbsolute.String() +
		"\n\t\t\tabsolute_timeout " + rememberAbsolute.String() +
		"\n\t\t\tremember_me " + rememberLifetime.String() +
		"\n\t\t\tremember_me_idle " + rememberLifetime.String()})
	gw := e.gw()
	b := newHostBrowser(t)

	// The remembered login, through the chooser's checkbox.
	first := e.url(gw, "app", "/remembered")
	b.navigate(first)
	b.waitPrefix(e.url(gw, "auth", "/.portcullis/login?"))
	b.click(`label[for="remember"]`)
	if !eval[bool](b, `document.querySelector('input[name="remember"]').checked`) {
		t.Fatal("clicking the label did not tick the remember-me box")
	}
	b.click(`button[name="provider"][value="` + staffIdP + `"]`)
	b.waitPrefix(e.staff.Issuer() + oidcprovider.PathLogin)
	b.signIn(staffAlice.Username, staffAlice.Password)
	b.waitAt(first)
	ck, ok := b.cookie(e.cookieName)
	if !ok {
		t.Fatal("no session cookie after the remembered login")
	}
	remembered := ck.Value
	if ck.Session || time.Until(time.Unix(int64(ck.Expires), 0)) < rememberLifetime/2 {
		t.Errorf("the remembered session's cookie expires at %v (session cookie: %v), want about %v from now",
			time.Unix(int64(ck.Expires), 0), ck.Session, rememberLifetime)
	}
	code, r := e.whoami(t, gw, "app", remembered)
	if code != http.StatusOK || !r.Remembered || r.Expires.Sub(r.Created) != rememberLifetime {
		t.Fatalf("whoami of the remembered session: %d %+v, want remembered, expiring %v after its creation", code, r, rememberLifetime)
	}

	// The plain login: the provider signs the browser in silently.
	var plain string
	var p domainWhoami
	second := e.url(gw, "app", "/plain")
	for attempt := 1; ; attempt++ {
		began := time.Now()
		b.navigate(e.url(gw, "auth", "/.portcullis/login?provider="+staffIdP+"&return_to="+url.QueryEscape(second)))
		chooser := e.url(gw, "auth", "/.portcullis/login?")
		landed := b.waitURL(second+" (or, past the timeout, the chooser)", func(u string) bool {
			return u == second || strings.HasPrefix(u, chooser) && !strings.Contains(u, "provider=")
		})
		ck, ok := b.cookie(e.cookieName)
		if landed == second && ok && ck.Value != remembered {
			plain = ck.Value
			if code, p = e.whoami(t, gw, "app", plain); code == http.StatusOK {
				break
			}
		}
		if time.Since(began) < rememberAbsolute {
			t.Fatalf("the plain session does not work right after its login (at %s, cookie found %v, whoami %d)", landed, ok, code)
		}
		if attempt == 3 {
			t.Fatalf("%d plain logins in a row took longer than absolute_timeout (%v) to check", attempt, rememberAbsolute)
		}
		t.Logf("the plain login was checked %v after it began, beyond absolute_timeout (a busy machine); again", time.Since(began))
	}
	if p.Remembered || p.Expires.Sub(p.Created) != rememberAbsolute || !p.Created.After(r.Created) {
		t.Fatalf("whoami of the plain session: %+v, want not remembered, expiring %v after its creation, after the remembered one's", p, rememberAbsolute)
	}

	// Past the plain session's expiry as the gateway reported it.
	for !time.Now().After(p.Expires) {
		time.Sleep(time.Until(p.Expires) + 20*time.Millisecond)
	}
	// A protected page first: the request that finds the session expired
	// records why (whoami would remove it silently).
	resp, _ := e.do(t, "GET", e.url(gw, "api", "/data"), plain, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the plain session past its absolute timeout: %d, want 401", resp.StatusCode)
	} else if r := awaitAudit(gw, func(ev auditEvent) bool {
		return ev.Event == "session_expired" && ev.RequestID == resp.Header.Get("X-Request-Id")
	}); r.Reason != "absolute_timeout" {
		t.Errorf("session_expired audit reason %q, want absolute_timeout", r.Reason)
	}
	if code, _ := e.whoami(t, gw, "app", plain); code != http.StatusUnauthorized {
		t.Errorf("whoami of the expired plain session: %d, want 401", code)
	}
	// The remembered session is older than the plain one, so past its own
	// normal absolute timeout too, and still works.
	if now := time.Now(); !now.After(r.Created.Add(rememberAbsolute)) {
		t.Fatalf("the check came before the remembered session's normal absolute timeout (%v)", r.Created.Add(rememberAbsolute))
	}
	if code, again := e.whoami(t, gw, "api", remembered); code != http.StatusOK || !again.Remembered || !again.Expires.Equal(r.Expires) {
		t.Errorf("whoami of the remembered session past the normal absolute timeout: %d %+v", code, again)
	}
	// (The browser holds the plain session's cookie now: an HTTP client
	// presents the remembered one.)
	resp, body := e.do(t, "GET", e.url(gw, "api", "/still"), remembered, map[string]string{"Accept": "application/json"})
	var echo map[string][]string
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &echo) != nil {
		t.Fatalf("the remembered session past the normal absolute timeout: %d %s", resp.StatusCode, body)
	}
	wantIdentity(t, "the remembered session past the normal absolute timeout", echo, staffIdP, staffAlice, e.staff.Issuer())
}
