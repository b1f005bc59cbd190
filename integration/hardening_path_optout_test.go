package integration_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 2, the per-site opt-out: allow_ambiguous_paths lets such paths
// through to the route's rules, and only on the route that says so.

// optOutSite is the anonymous site with allow_ambiguous_paths.
func optOutSite(up, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		allow_ambiguous_paths
		allow_anonymous /public/*
		require orders:read
	}
	reverse_proxy %s
}
`, p.Global(), keyBlock, p.HTTP, up)
	}
}

// hardenPathOptOut: allow_ambiguous_paths lets such paths through to the
// route's rules, and on to the upstream as sent.
func hardenPathOptOut(t *testing.T, up *recorder, key, block string) {
	gw := harness.StartGateway(t, optOutSite(up.Addr, block))
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	for _, target := range []string{"/orders;x=1/1", "/files/a%2Fb"} {
		t.Run(strings.NewReplacer("/", "_", ";", "_", "%", "_").Replace(target), func(t *testing.T) {
			tag := newTag("opt-out")
			resp := rawSend(t, host, rawReq{method: "GET", target: target, host: host, headers: hdrs(caseHeader, tag, "Authorization", "Bearer "+key)}.String())
			if resp.Status != 200 {
				t.Fatalf("with allow_ambiguous_paths and a key: %d %.300s", resp.Status, resp.Body)
			}
			if g, ok := forwardedOnce(t, up, tag, resp); ok && g.RequestURI != target {
				t.Errorf("the upstream received %q, want %q", g.RequestURI, target)
			}
			untagged := newTag("opt-out-anon")
			resp = rawSend(t, host, rawReq{method: "GET", target: target, host: host, headers: hdrs(caseHeader, untagged)}.String())
			checkRefusal(t, resp, 401)
			checkNotForwarded(t, up, untagged)
		})
	}
}

// mixedOptOut opts one route of a site out; the other keeps the checks.
func mixedOptOut(up, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			%s
		}
	}
}

http://127.0.0.1:%d {
	portcullis /legacy/* {
		allow_ambiguous_paths
		require legacy:read
	}
	portcullis /orders/* {
		require orders:read
	}
	reverse_proxy %s
}
`, p.Global(), keyBlock, p.HTTP, up)
	}
}

// hardenMixedOptOut: an opt-out on one route does not open the others.
func hardenMixedOptOut(t *testing.T, up *recorder, block string) {
	gw := harness.StartGateway(t, mixedOptOut(up.Addr, block))
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	for _, c := range []struct{ name, target string }{
		{"semicolon_param", "/orders;x=1/1"}, {"semicolon_dotdot", "/public/..;/orders/1"},
		{"backslash_raw", `/public/..\orders/1`}, {"backslash_encoded", "/public/..%5Corders/1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag := newTag(c.name)
			resp := rawSend(t, host, rawReq{method: "GET", target: c.target, host: host, headers: hdrs(caseHeader, tag)}.String())
			checkRefusal(t, resp, anyRefusal)
			checkNotForwarded(t, up, tag)
		})
	}
}
