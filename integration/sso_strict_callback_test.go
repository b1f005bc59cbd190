package integration_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestSSOStrictCallbackIssuer (RFC 9207): the strict provider advertises
// authorization_response_iss_parameter_supported and names itself in
// every authorization response. A response whose iss is another issuer's
// (a mix-up attack), has none, has two or differs by a trailing slash is
// refused with 400 and the audit reason issuer_mismatch, and logs no one
// in, even when the genuine response comes next: whichever response
// arrives first spends the login's single-use state. A genuine response
// then logs in.
func TestSSOStrictCallbackIssuer(t *testing.T) {
	t.Parallel()
	idp := startIdP(t, profileStrict.opts)
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, "store memory", ""), ssoEnv...)
	registerGateway(idp, gw)

	a := newAgent(t)
	// callback starts a login and returns the provider's authorization
	// response, the callback URL, without following it.
	callback := func() *url.URL {
		t.Helper()
		a.StopAt(gw.URL + "/.portcullis/callback")
		defer a.StopAt("")
		resp, body := a.navigate(gw.URL + "/page")
		if strings.Contains(body, `id="login-form"`) { // the first login; then the provider session
			r, _, err := a.SubmitLogin(resp, body, alice.Username, alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			resp = r
		}
		cb, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(cb.String(), gw.URL+"/.portcullis/callback?") {
			t.Fatalf("no callback redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if iss := cb.Query()["iss"]; len(iss) != 1 || iss[0] != idp.Issuer() {
			t.Fatalf("the strict provider's authorization response has iss %q, want %q", iss, idp.Issuer())
		}
		return cb
	}
	for _, c := range []struct {
		name string
		edit func(q url.Values)
	}{
		{"another issuer", func(q url.Values) { q.Set("iss", "https://attacker.example") }},
		{"no iss", func(q url.Values) { q.Del("iss") }},
		{"a second iss", func(q url.Values) { q.Add("iss", "https://attacker.example") }},
		{"a trailing slash", func(q url.Values) { q.Set("iss", idp.Issuer()+"/") }},
	} {
		genuine := callback()
		forged := *genuine
		q := forged.Query()
		c.edit(q)
		forged.RawQuery = q.Encode()
		resp, _ := a.navigate(forged.String())
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: the callback answered %d, want 400", c.name, resp.StatusCode)
		}
		if reason := auditReason(t, gw, "login_failed", resp.Header.Get("X-Request-Id")); reason != "issuer_mismatch" {
			t.Errorf("%s: login_failed reason %q, want issuer_mismatch", c.name, reason)
		}
		if resp, _ := a.navigate(genuine.String()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: the genuine response after the refused one: %d, want 400", c.name, resp.StatusCode)
		}
		if ck := a.Cookie(gw.URL, "portcullis"); ck != "" {
			t.Fatalf("%s: a session cookie was set", c.name)
		}
	}
	if n := len(auditEvents(gw, "login")); n != 0 {
		t.Fatalf("%d login audit events after refused responses, want 0", n)
	}

	// The genuine response of a fresh login works.
	if resp, body := a.navigate(callback().String()); landedAt(resp, body) == "" {
		t.Fatalf("the genuine callback failed:\n%s", body)
	}
	if ck := a.Cookie(gw.URL, "portcullis"); ck == "" || withSession(t, gw, "/", ck) != http.StatusOK {
		t.Fatal("no working session after the genuine callback")
	}
}
