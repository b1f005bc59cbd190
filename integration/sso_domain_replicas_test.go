package integration_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// TestSSODomainReplicas: two gateway processes sharing one redis-server
// serve the domain's hosts on their own ports. In Chromium, a session
// made on replica 1 through app.example.test opens api.example.test on
// replica 2 without a prompt, and a logout on replica 2 ends it on
// replica 1 (the session, not only the browser's cookie).
func TestSSODomainReplicas(t *testing.T) {
	t.Parallel()
	e := startDomainEnv(t, domainSetup{storeLine: redisStore(redistest.SharedStandalone(t).URL()), replicas: 2})
	b := newHostBrowser(t)
	signInOnceAcrossHosts(t, e, b, e.gws[0], e.gws[1])
}
