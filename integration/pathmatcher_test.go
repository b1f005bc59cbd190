package integration_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestPathMatcherOwnPaths puts `portcullis /mcp* { resource … }` in front
// of a recording upstream. The route's challenge points clients to the
// RFC 9728 metadata document at /.well-known/oauth-protected-resource/mcp,
// which /mcp* does not match: the gateway must answer it (and its
// /.portcullis/ endpoints) itself, never pass it to the upstream.
func TestPathMatcherOwnPaths(t *testing.T) {
	t.Parallel()
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, func(p harness.Ports) string {
		res := fmt.Sprintf("http://127.0.0.1:%d/mcp", p.HTTP)
		return fmt.Sprintf(`{
	%s
	portcullis {
		jwt https://idp.example.com {
			audience %s
		}
		resource %s {
			authorization_servers https://idp.example.com
			scopes_supported tools:read
		}
	}
}

http://127.0.0.1:%d {
	portcullis /mcp* {
		resource %s
		accept jwt
		require tools:read
	}
	reverse_proxy %s
}
`, p.Global(), res, res, p.HTTP, res, up.Addr)
	})
	resource := gw.URL + "/mcp"

	resp, _ := gw.Do(t, "POST", "/mcp", map[string]string{"Content-Type": "application/json"})
	challenge := resp.Header.Get("WWW-Authenticate")
	metadata := gw.URL + "/.well-known/oauth-protected-resource/mcp"
	if resp.StatusCode != 401 || !strings.Contains(challenge, `resource_metadata="`+metadata+`"`) {
		t.Fatalf("POST /mcp without a token: %d %q, want 401 pointing to %s", resp.StatusCode, challenge, metadata)
	}

	resp, body := gw.Do(t, "GET", "/.well-known/oauth-protected-resource/mcp", nil)
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc.Resource != resource {
		t.Fatalf("the metadata the challenge points to: %d %s, want 200 with resource %s", resp.StatusCode, body, resource)
	}

	resp, body = gw.Do(t, "GET", "/.portcullis/healthz", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/.portcullis/healthz: %d %s", resp.StatusCode, body)
	}
	resp, _ = gw.Do(t, "GET", "/.portcullis/no-such-endpoint", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("/.portcullis/no-such-endpoint: %d, want the gateway's 404", resp.StatusCode)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream received %d requests, want none", n)
	}

	// What the matcher does not cover is the upstream's, as before.
	if resp, _ := gw.Do(t, "GET", "/public", nil); resp.StatusCode != 200 || up.Count() != 1 {
		t.Fatalf("GET /public: %d, upstream saw %d requests; want it passed through", resp.StatusCode, up.Count())
	}
}
