package integration_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// TestSSORefreshOnceAcrossReplicas: fifty concurrent requests with an
// expiring IdP access token, spread over two gateways sharing Redis,
// cause exactly one refresh at the provider and no logout. Against the
// strict provider the refresh also brings a new ID token, in each of its
// signature algorithms, and a UserInfo call.
func TestSSORefreshOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
		idp := startIdP(t, opts, oidcprovider.WithAccessTokenLifetime(10*time.Second))
		up := harness.StartUpstream(t)
		storeLine := redisStore(redistest.SharedStandalone(t).URL())
		gw1 := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, storeLine, ""), ssoEnv...)
		gw2 := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, storeLine, ""), ssoEnv...)
		registerGateway(idp, gw1, gw2)

		cookie := newAgent(t).loginAt(gw1, "/")
		tokenCalls := idp.Hits(oidcprovider.PathToken)
		if tokenCalls != 1 {
			t.Fatalf("token endpoint calls after login: %d, want 1 (the code exchange)", tokenCalls)
		}
		userinfoCalls := idp.Hits(oidcprovider.PathUserinfo)
		// The access token (10 s) is now inside its refresh window (the last half of its life).
		time.Sleep(6 * time.Second)

		var wg sync.WaitGroup
		codes := make([]int, 50)
		for i := range codes {
			gw := gw1
			if i%2 == 1 {
				gw = gw2
			}
			wg.Go(func() { codes[i] = withSession(t, gw, "/", cookie) })
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Fatalf("request %d during the refresh: %d", i, c)
			}
		}
		if got := idp.Hits(oidcprovider.PathToken) - tokenCalls; got != 1 {
			t.Fatalf("refreshes at the provider: %d, want exactly 1", got)
		}
		if got := idp.Hits(oidcprovider.PathUserinfo) - userinfoCalls; got != 1 {
			t.Errorf("UserInfo calls for the refresh: %d, want exactly 1", got)
		}
		if withSession(t, gw2, "/", cookie) != 200 {
			t.Fatal("the session ended after the refresh")
		}
		if n := strings.Count(gw1.Logs()+gw2.Logs(), `"event":"refresh"`); n != 1 {
			t.Fatalf("%d refresh audit events, want 1", n)
		}
	})
}
