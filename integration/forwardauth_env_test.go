package integration_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The forward-auth tests of issue 19: a real proxy (nginx, or a second
// Caddy from our binary with Caddy's forward_auth) in front of a
// recording upstream asks the gateway's portcullis_forward_auth about
// every request. The same gateway process also serves the same policies
// inline, on the host inline.test, so that a test can compare the two
// front doors' answers, rate limits and audit events.

// faClientIP is the address the tests' clients connect from: through a
// proxy it reaches the gateway only in X-Forwarded-For, so an audit
// event that names it shows the trusted proxy's word was taken.
const faClientIP = "127.0.0.7"

// faUntrustedIP is a peer outside the gateway's trusted_proxies.
const faUntrustedIP = "127.0.0.9"

// faEnv is a gateway answering forward-auth check requests, a recording
// upstream and an OpenID provider; the test puts a front door in front.
type faEnv struct {
	idp *oidcprovider.Provider
	up  *recorder
	gw  *harness.Gateway
	// key is an API key of subject fa-client with orders:read.
	key string
	// audit is the file of the gateway's audit events.
	audit string
	// front is the front door's base URL, http://127.0.0.1:<port>.
	front string
	// frontPort is the front door's port, chosen before the gateway
	// starts (the gateway's OpenID redirect URL is on the front door).
	frontPort int
}

// startFAEnv starts the provider, the upstream and the gateway, with the
// OpenID redirect URL on the front door's port; the caller starts the
// front door there.
func startFAEnv(t *testing.T, frontPort int) *faEnv {
	t.Helper()
	e := &faEnv{frontPort: frontPort, audit: filepath.Join(t.TempDir(), "audit.log")}
	e.front = fmt.Sprintf("http://127.0.0.1:%d", e.frontPort)
	var block string
	e.key, block = newKey(t, "--subject", "fa-client", "--scopes", "orders:read")
	e.idp = startIdP(t, nil)
	e.up = startRecorder(t)
	e.gw = harness.StartGateway(t, faGateway(e.idp.Issuer(), e.front, e.up.Addr, e.audit, block), ssoEnv...)
	e.idp.AddClient(oidcprovider.Client{ID: ssoClientID, Secret: ssoClientSecret, RedirectURIs: []string{e.front + "/.portcullis/callback"}})
	return e
}

// errFrontPortTaken means another process took the front door's port
// between its choice (before the gateway starts, since the gateway
// redirects logins there) and the front door's start.
var errFrontPortTaken = errors.New("the front door's port was taken by another process")

// withFrontDoor starts an environment and its front door with start,
// again on other ports while the front door's port was taken meanwhile.
func withFrontDoor(t *testing.T, start func(e *faEnv) error) *faEnv {
	t.Helper()
	for attempt := 1; ; attempt++ {
		e := startFAEnv(t, harness.FreePort(t))
		err := start(e)
		switch {
		case err == nil:
			return e
		case !errors.Is(err, errFrontPortTaken) || attempt == 5:
			t.Fatalf("starting the front door: %v", err)
		}
		t.Logf("%v; starting again on other ports", err)
	}
}

// faGateway is the gateway of the forward-auth tests: the decision
// endpoint on every host but inline.test, which serves the same routes
// inline. Only 127.0.0.1 (where the front doors connect from) is a
// trusted proxy.
func faGateway(issuer, front, upstream, auditFile, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[1]s
	servers {
		trusted_proxies static 127.0.0.1/32
	}
	log audit {
		include portcullis.audit
		output file %[2]s
		format json
	}
	portcullis {
		store memory
		api_keys {
			%[3]s
		}
		scope orders:write implies orders:read
		rate_limit fa_limited 2/1h key {http.auth.user.id}
		rate_limit inline_limited 2/1h key {http.auth.user.id}
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %[4]s {
			client_id %[5]s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url %[6]s/.portcullis/callback
			scopes openid email profile
		}
	}
}

http://:%[7]d {
	# Envoy's ext_authz HTTP service asks under a path prefix, with the
	# original method and Host; the other proxies describe the request in
	# headers.
	handle /ext-authz/* {
		portcullis_forward_auth {
			path_prefix /ext-authz
			%[9]s
		}
	}
	handle {
		portcullis_forward_auth {
			%[9]s
		}
	}
}

http://inline.test:%[7]d {
	portcullis /limited/* {
		route limited
		require orders:read
		rate_limit inline_limited
	}
	portcullis /orders* {
		route orders
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %[8]s
}
`, p.Global(), auditFile, keyBlock, issuer, ssoClientID, front, p.HTTP, upstream, faPolicies)
	}
}

// faPolicies are the forward-auth policies of faGateway, the same routes
// as its inline site.
const faPolicies = `policy 127.0.0.1 localhost /limited/* {
				route limited
				require orders:read
				rate_limit fa_limited
			}
			policy 127.0.0.1 localhost /app/* {
				route browser
			}
			policy 127.0.0.1 localhost /public/* {
				route public
				allow_anonymous /public/*
			}
			policy 127.0.0.1 localhost /orders /orders/* {
				route orders
				require orders:read
				require orders:write methods POST
			}`
