package providercheck

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestSecretsNeverPrinted: a client secret that providers echo and a
// Redis password in a URL never reach the text or JSON report.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const redisPassword = "redis-password-do-not-print"
	// A provider that echoes the credentials it got in its error.
	f := startFakeIDP(t, func(f *fakeIDP) { f.echoSecret = true })
	srv := f.issuer()
	rep := runCheck(t, Config{
		OIDC:    []OIDC{{Issuer: srv, ClientID: fakeClientID, ClientSecret: fakeSecret, RedirectURL: testRedirect}},
		Redis:   []Redis{{Config: store.RedisConfig{URL: "redis://:" + redisPassword + "@127.0.0.1:1/0", Password: redisPassword}}},
		Timeout: 5 * time.Second,
	})
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	out := text(t, rep) + js.String()
	for _, s := range []string{fakeSecret, redisPassword} {
		if strings.Contains(out, s) {
			t.Errorf("the report shows a secret (%.10s…):\n%s", s, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("the echoing provider's answer was not redacted, or not shown:\n%s", out)
	}
	if r := find(t, rep, "ping"); r.Status != Fail || !strings.Contains(r.Component, "store redis://127.0.0.1:1/0") {
		t.Errorf("ping: %+v", r)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if got := redact("key k3y and k3y, pw", []string{"", "k3y", "pw"}); got != "key [redacted] and [redacted], [redacted]" {
		t.Errorf("redact = %q", got)
	}
}
