package integration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 4: headers a client sends to undo what the gateway did: hop-by-hop
// nominations of the identity headers, trailers that repeat them, and
// method or URL overrides (hardening_override_test.go).

// identityNames are every header the gateway sets on the hardening
// headers site (API-key identity, request id, signed assertion).
var identityNames = []string{"X-Auth-Subject", "X-Auth-Method", "X-Auth-Key-Id", "X-Auth-Name", "X-Auth-Scopes", "X-Request-Id", "X-Auth-Assertion"}

// headerKeys are the keys of the class: read, write, admin.
type headerKeys struct {
	reader, writer, admin string
	blocks                string
}

func newHeaderKeys(t *testing.T) headerKeys {
	var k headerKeys
	var b [3]string
	k.reader, b[0] = newKey(t, "--subject", "hdr-reader", "--name", "reader", "--scopes", "orders:read")
	k.writer, b[1] = newKey(t, "--subject", "hdr-writer", "--name", "writer", "--scopes", "orders:write")
	k.admin, b[2] = newKey(t, "--subject", "hdr-admin", "--name", "admin", "--scopes", "orders:admin")
	k.blocks = strings.Join(b[:], "\n")
	return k
}

// assertionKeyFile writes a fresh P-256 key for signed assertions.
func assertionKeyFile(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	f := filepath.Join(t.TempDir(), "assertion.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// headersGateway: reads need orders:read, writes orders:write, DELETE
// orders:admin; every allowed request carries a signed assertion.
// routeExtra is added to the handler block (e.g. allow_method_override).
func headersGateway(up, keys, assertionKey, routeExtra string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			%s
		}
		scope orders:admin implies orders:write
		scope orders:write implies orders:read
		assertion {
			key {file.%s}
			issuer https://gateway.test
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
		require orders:write methods POST PUT PATCH
		require orders:admin methods DELETE
		assertion orders-api
		%s
	}
	reverse_proxy %s
}
`, p.Global(), keys, assertionKey, p.HTTP, routeExtra, up)
	}
}

// checkIdentity checks that the upstream got exactly one value of every
// identity header, the gateway's: the subject and name of the key, the
// response's request id, an assertion.
func checkIdentity(t *testing.T, g recorded, resp rawResp, subject, name string) {
	t.Helper()
	want := map[string]string{"X-Auth-Subject": subject, "X-Auth-Method": "api_key", "X-Auth-Name": name,
		"X-Request-Id": resp.Header.Get("X-Request-Id")}
	for _, h := range identityNames {
		vs := g.Header.Values(h)
		if len(vs) != 1 || vs[0] == "" || (want[h] != "" && vs[0] != want[h]) {
			t.Errorf("upstream %s = %q, want exactly one %q", h, vs, map[bool]string{true: want[h], false: "gateway-set value"}[want[h] != ""])
		}
	}
	for k := range g.Header {
		if n := strings.ReplaceAll(strings.ToLower(k), "_", "-"); n != strings.ToLower(k) && strings.HasPrefix(n, "x-auth-") {
			t.Errorf("a client copy of an identity header reached the upstream: %s", k)
		}
	}
}

var connectionCases = []struct {
	name    string
	headers [][2]string
	proto   string
}{
	{"subject", hdrs("Connection", "X-Auth-Subject"), ""},
	{"issue_example", hdrs("Connection", "X-Auth-Subject, X-Auth-Scopes, X-Request-Id"), ""},
	{"method", hdrs("Connection", "X-Auth-Method"), ""},
	{"key_id", hdrs("Connection", "X-Auth-Key-Id"), ""},
	{"name", hdrs("Connection", "X-Auth-Name"), ""},
	{"scopes", hdrs("Connection", "X-Auth-Scopes"), ""},
	{"request_id", hdrs("Connection", "X-Request-Id"), ""},
	{"assertion", hdrs("Connection", "X-Auth-Assertion"), ""},
	{"all", hdrs("Connection", strings.Join(identityNames, ", ")), ""},
	{"lowercase_values", hdrs("Connection", "x-auth-subject, x-request-id, x-auth-assertion"), ""},
	{"uppercase_values", hdrs("Connection", "X-AUTH-SUBJECT, X-AUTH-SCOPES"), ""},
	{"lowercase_name", hdrs("connection", "X-Auth-Subject"), ""},
	{"underscore_values", hdrs("Connection", "X_Auth_Subject, x_request_id"), ""},
	{"repeated_connection", hdrs("Connection", "keep-alive", "Connection", "X-Auth-Subject", "Connection", "X-Auth-Key-Id"), ""},
	{"close_plus", hdrs("Connection", "close, X-Auth-Subject"), ""},
	{"no_spaces", hdrs("Connection", "X-Auth-Subject,X-Request-Id,X-Auth-Method"), ""},
	{"odd_whitespace", hdrs("Connection", " ,X-Auth-Subject ,\t, X-Auth-Scopes\t"), ""},
	{"keep_alive", hdrs("Keep-Alive", "timeout=5", "Connection", "Keep-Alive, X-Auth-Key-Id"), ""},
	{"te_trailers", hdrs("TE", "trailers", "Connection", "TE, X-Auth-Scopes"), ""},
	{"upgrade_websocket", hdrs("Upgrade", "websocket", "Connection", "Upgrade, X-Auth-Subject", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ""},
	{"upgrade_h2c", hdrs("Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA", "Connection", "Upgrade, HTTP2-Settings, X-Auth-Subject"), ""},
	{"proxy_connection", hdrs("Proxy-Connection", "X-Auth-Subject", "Connection", "X-Auth-Method"), ""},
	{"forged_request_id", hdrs("X-Request-Id", "forged-id", "Connection", "X-Request-Id"), ""},
	{"http10_keep_alive", hdrs("Connection", "keep-alive, X-Auth-Subject, X-Auth-Assertion"), "HTTP/1.0"},
}

// smuggleCases spell a client copy of an identity header in ways a
// lenient parser might still read as one.
var smuggleCases = []struct {
	name    string
	headers [][2]string
	proto   string
}{
	{"obs_fold_value", hdrs("X-Auth-Subject", "x\r\n admin"), ""},
	{"space_before_colon", hdrs("X-Auth-Subject ", "admin"), ""},
	{"tab_before_colon", hdrs("X-Auth-Subject\t", "admin"), ""},
	{"duplicate_mixed_case", hdrs("x-auth-subject", "admin", "X-AUTH-SUBJECT", "root", "X_Auth_Subject", "admin"), ""},
	{"forged_request_id_twice", hdrs("X-Request-Id", "forged-1", "x-request-id", "forged-2"), ""},
}

var trailerCases = []struct {
	name     string
	declared string      // the Trailer header; "" for none
	trailers [][2]string // sent after the last chunk
}{
	{"subject", "X-Auth-Subject", hdrs("X-Auth-Subject", "admin")},
	{"scopes", "X-Auth-Scopes", hdrs("X-Auth-Scopes", "orders:admin")},
	{"request_id", "X-Request-Id", hdrs("X-Request-Id", "forged-id")},
	{"method", "X-Auth-Method", hdrs("X-Auth-Method", "session")},
	{"key_id", "X-Auth-Key-Id", hdrs("X-Auth-Key-Id", "forged")},
	{"name", "X-Auth-Name", hdrs("X-Auth-Name", "Administrator")},
	{"assertion", "X-Auth-Assertion", hdrs("X-Auth-Assertion", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.")},
	{"email_groups", "X-Auth-Email, X-Auth-Groups", hdrs("X-Auth-Email", "root@example.com", "X-Auth-Groups", "admins")},
	{"lowercase", "x-auth-subject", hdrs("x-auth-subject", "admin")},
	{"underscore", "X_Auth_Subject", hdrs("X_Auth_Subject", "admin")},
	{"undeclared", "", hdrs("X-Auth-Subject", "admin", "X-Auth-Scopes", "orders:admin")},
	{"all", strings.Join(identityNames, ", "), hdrs("X-Auth-Subject", "admin", "X-Auth-Scopes", "orders:admin", "X-Request-Id", "forged-id", "X-Auth-Assertion", "forged")},
	{"method_override", "X-HTTP-Method-Override", hdrs("X-HTTP-Method-Override", "DELETE")},
	{"authorization", "Authorization", hdrs("Authorization", "Bearer forged-credential")},
}

func hardenHeaders(t *testing.T) {
	keys := newHeaderKeys(t)
	akey := assertionKeyFile(t)
	up := startRecorder(t)
	gw := harness.StartGateway(t, headersGateway(up.Addr, keys.blocks, akey, ""))
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	for i, c := range append(connectionCases, smuggleCases...) {
		group := map[bool]string{true: "connection/", false: "smuggle/"}[i < len(connectionCases)]
		t.Run(group+c.name, func(t *testing.T) {
			tag := newTag(c.name)
			h := append(hdrs("Authorization", "Bearer "+keys.reader, caseHeader, tag), c.headers...)
			resp := rawSend(t, host, rawReq{method: "GET", target: "/orders/1", host: host, headers: h, proto: c.proto}.String())
			if resp.Status != 200 {
				checkRefusal(t, resp, anyRefusal)
				checkNotForwarded(t, up, tag)
				return
			}
			if g, ok := forwardedOnce(t, up, tag, resp); ok {
				checkIdentity(t, g, resp, "hdr-reader", "reader")
			}
		})
	}
	for _, c := range trailerCases {
		t.Run("trailer/"+c.name, func(t *testing.T) {
			tag := newTag(c.name)
			h := hdrs("Authorization", "Bearer "+keys.writer, caseHeader, tag, "Content-Type", "application/json", "Transfer-Encoding", "chunked")
			if c.declared != "" {
				h = append(h, [2]string{"Trailer", c.declared})
			}
			var tr strings.Builder
			for _, x := range c.trailers {
				fmt.Fprintf(&tr, "%s: %s\r\n", x[0], x[1])
			}
			body := chunk(`{"item":1}`, 4) + "0\r\n" + tr.String() + "\r\n"
			resp := rawSend(t, host, rawReq{method: "POST", target: "/orders", host: host, headers: h, body: body}.String())
			if resp.Status != 200 {
				checkRefusal(t, resp, anyRefusal)
				checkNotForwarded(t, up, tag)
				return
			}
			g, ok := forwardedOnce(t, up, tag, resp)
			if !ok {
				return
			}
			checkIdentity(t, g, resp, "hdr-writer", "writer")
			for _, x := range c.trailers {
				if vs := trailerValues(g, x[0]); len(vs) > 0 {
					t.Errorf("the client's trailer %s: %s reached the upstream as %v", x[0], x[1], vs)
				}
			}
			if string(g.Body) != `{"item":1}` {
				t.Errorf("the body reached the upstream as %q", g.Body)
			}
		})
	}
	hardenOverrides(t, keys, akey, up, host)
}

// trailerValues returns the values of the upstream's trailers whose name
// is name in any case and with '-' or '_'.
func trailerValues(g recorded, name string) []string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	var out []string
	for k, vs := range g.Trailer {
		if norm(k) == norm(name) {
			out = append(out, vs...)
		}
	}
	return out
}
