package integration_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// The "GitHub" of the vault tests: a second harness provider, its client
// for the gateway, and a user there.
const (
	vaultGHClientID     = "gh-gateway"
	vaultGHClientSecret = "gh-gateway-secret-0123456789"
)

// vaultEnv is the gateways' environment: the SSO secrets and the
// upstream provider's client secret.
var vaultEnv = append([]string{"GH_CLIENT_SECRET=" + vaultGHClientSecret}, ssoEnv...)

// vaultUsers returns a login user and a "GitHub" user, with ids unique to
// this run (the shared redis-server outlives a test).
func vaultUsers() (login, gh oidcprovider.User) {
	suffix := strings.ToLower(rand.Text()[:8])
	login = oidcprovider.User{ID: "u-vault-" + suffix, Username: "vault-" + suffix, Password: "login-pass", Email: "vault-" + suffix + "@example.test", EmailVerified: true, Name: "Vault User"}
	gh = oidcprovider.User{ID: "gh-octo-" + suffix, Username: "octo-" + suffix, Password: "gh-pass", Name: "Octo Cat"}
	return login, gh
}

// vaultGateway is a gateway whose users sign in at issuer and connect
// gh ("GitHub"); every path of its site sends the user's GitHub token
// upstream.
func vaultGateway(issuer string, gh *oidcprovider.Provider, upstream, storeLine string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		session {
			keys {env.SSO_SESSION_KEYS}
			insecure_cookie
		}
		oidc %s {
			client_id %s
			client_secret {env.SSO_CLIENT_SECRET}
			redirect_url http://127.0.0.1:%d/.portcullis/callback
			scopes openid email profile
		}
		upstream_oauth github {
			label GitHub
			client_id %s
			client_secret {env.GH_CLIENT_SECRET}
			authorization_endpoint %s
			token_endpoint %s
			revocation_endpoint %s
			scopes openid offline_access
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		inject github
	}
	reverse_proxy %s
}
`, p.Global(), storeLine, issuer, ssoClientID, p.HTTP, vaultGHClientID, gh.AuthorizationURL(), gh.TokenURL(), gh.RevocationURL(), p.HTTP, upstream)
	}
}

// registerVaultClient registers the gateways at gh, with an access
// token lifetime.
func registerVaultClient(gh *oidcprovider.Provider, life time.Duration, gws ...*harness.Gateway) {
	c := oidcprovider.Client{ID: vaultGHClientID, Secret: vaultGHClientSecret, AccessTokenLifetime: life}
	for _, gw := range gws {
		c.RedirectURIs = append(c.RedirectURIs, gw.URL+"/.portcullis/connect/github/callback")
	}
	gh.AddClient(c)
}

// refreshRequests counts gh's refresh_token grants of the gateways'
// client, and the refresh tokens presented more than once.
func refreshRequests(gh *oidcprovider.Provider) (n, reused int) {
	seen := map[string]bool{}
	for _, r := range gh.TokenRequests() {
		if r.GrantType != oidcprovider.GrantRefreshToken || r.ClientID != vaultGHClientID {
			continue
		}
		n++
		if seen[r.RefreshTokenHash] {
			reused++
		}
		seen[r.RefreshTokenHash] = true
	}
	return n, reused
}

// redisRaw is a minimal RESP client that reads raw values, to look at
// what the gateways stored exactly as Redis holds it.
type redisRaw struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRedis(t *testing.T, addr string) *redisRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dialing redis: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &redisRaw{conn: c, r: bufio.NewReader(c)}
}

// do sends one command and returns its reply: a []byte (bulk string), a
// string (status), an int64 or a []any (array).
func (c *redisRaw) do(t *testing.T, args ...string) any {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		t.Fatalf("redis %s: %v", args[0], err)
	}
	v, err := c.read()
	if err != nil {
		t.Fatalf("redis %s: %v", args[0], err)
	}
	return v
}

func (c *redisRaw) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := readFull(c.r, buf); err != nil {
			return nil, err
		}
		return buf[:n], nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, max(n, 0))
		for range n {
			v, err := c.read()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

func readFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scan returns every key matching pattern.
func (c *redisRaw) scan(t *testing.T, pattern string) []string {
	t.Helper()
	var keys []string
	cursor := "0"
	for {
		reply, ok := c.do(t, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000").([]any)
		if !ok || len(reply) != 2 {
			t.Fatalf("SCAN reply %v", reply)
		}
		cursor = string(reply[0].([]byte))
		for _, k := range reply[1].([]any) {
			keys = append(keys, string(k.([]byte)))
		}
		if cursor == "0" {
			return keys
		}
	}
}
