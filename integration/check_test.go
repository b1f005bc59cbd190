package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// `portcullis check` against the real OpenID provider and redis-server:
// a healthy setup passes, and each common mistake fails (or warns) with
// a line that names it. Nothing here runs a gateway: check talks to the
// provider and Redis only.

// Secrets of the check tests; none may appear in a report.
const (
	checkClientSecret  = "check-client-secret-0123456789"
	checkRedisPassword = "check-redis-password-0123456789"
	checkSessionKey    = "check-session-key-0123456789abcdefghij"
	// checkSite is the gateway's origin in the configuration (no gateway
	// listens there; check does not contact it).
	checkSite = "http://127.0.0.1:18080"
)

// checkSetup is what a check test configures.
type checkSetup struct {
	issuer   string // as written in the oidc and jwt blocks
	clientID string
	redisURL string
}

// writeCheckCaddyfile writes the gateway configuration of s.
func writeCheckCaddyfile(t *testing.T, s checkSetup) string {
	t.Helper()
	body := fmt.Sprintf(`{
	admin off
	portcullis {
		store %s {
			password {env.CHECK_REDIS_PASSWORD}
			timeout %s
		}
		session {
			keys {env.CHECK_SESSION_KEYS}
			insecure_cookie
		}
		oidc %s {
			client_id %s
			client_secret {env.CHECK_CLIENT_SECRET}
			redirect_url %s/.portcullis/callback
			post_logout_redirect_url %s/bye
			scopes openid email profile offline_access
		}
		jwt %s {
			audience %s
		}
	}
}

%s {
	portcullis
	respond ok
}
`, s.redisURL, behaviourStoreTimeout, s.issuer, s.clientID, checkSite, checkSite, s.issuer, s.clientID, checkSite)
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkProvider starts the provider with the gateway registered as a
// confidential client.
func checkProvider(t *testing.T, opts ...oidcprovider.Option) *oidcprovider.Provider {
	t.Helper()
	idp := oidcprovider.Start(t, opts...)
	idp.AddClient(oidcprovider.Client{
		ID: ssoClientID, Secret: checkClientSecret,
		RedirectURIs:           []string{checkSite + "/.portcullis/callback"},
		PostLogoutRedirectURIs: []string{checkSite + "/bye"},
		BackChannelLogoutURI:   checkSite + "/.portcullis/backchannel-logout",
	})
	return idp
}

// checkRedis starts a private Redis that requires checkRedisPassword
// and returns its URL (without the password).
func checkRedis(t *testing.T) string {
	t.Helper()
	srv := redistest.StartStandalone(t)
	conn, err := net.DialTimeout("tcp", srv.Addr(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	// CONFIG SET requirepass <password>, in RESP.
	args := []string{"CONFIG", "SET", "requirepass", checkRedisPassword}
	cmd := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		cmd += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(cmd)); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || reply != "+OK\r\n" {
		t.Fatalf("setting the Redis password: %v %q", err, reply)
	}
	return srv.URL()
}

// checkRun is one run of `portcullis check`.
type checkRun struct {
	code           int
	stdout, stderr string
}

// runCheckBinary runs `portcullis check --config path args…` and returns
// its exit status and output. A run that does not end in two minutes is
// hung.
func runCheckBinary(t *testing.T, path string, args ...string) checkRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append([]string{"check", "--config", path}, args...)...)
	cmd.Env = append(os.Environ(), "CHECK_CLIENT_SECRET="+checkClientSecret, "CHECK_REDIS_PASSWORD="+checkRedisPassword, "CHECK_SESSION_KEYS="+checkSessionKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	run := checkRun{stdout: stdout.String(), stderr: stderr.String()}
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		run.code = exitErr.ExitCode()
	default:
		t.Fatalf("running portcullis check: %v\n%s", err, stderr.String())
	}
	for _, s := range []string{checkClientSecret, checkRedisPassword, checkSessionKey} {
		if strings.Contains(run.stdout+run.stderr, s) {
			t.Errorf("portcullis check printed a secret (%.12s…):\n%s\n%s", s, run.stdout, run.stderr)
		}
	}
	return run
}

// line returns the report line of check in component, or "".
func (r checkRun) line(component, check string) string {
	for l := range strings.SplitSeq(r.stdout, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], component+" "+check+": ") {
			return l
		}
	}
	return ""
}

// TestCheckHealthy: a provider and Redis that match the configuration;
// every line is OK, exit 0, and --json says the same.
func TestCheckHealthy(t *testing.T) {
	t.Parallel()
	idp := checkProvider(t)
	redisURL := checkRedis(t)
	path := writeCheckCaddyfile(t, checkSetup{issuer: idp.Issuer(), clientID: ssoClientID, redisURL: redisURL})
	run := runCheckBinary(t, path)
	if run.code != 0 {
		t.Fatalf("exit %d, want 0:\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	oidc, jwt, store := "oidc "+idp.Issuer(), "jwt "+idp.Issuer(), "store "+redisURL
	expect := []struct{ component, check, status, detail string }{
		{store, "ping", "OK", "PONG in"},
		{oidc, "redirect_url", "OK", checkSite + "/.portcullis/callback"},
		{oidc, "post_logout_redirect_url", "OK", checkSite + "/bye"},
		{oidc, "back-channel logout url", "OK", checkSite + "/.portcullis/backchannel-logout"},
		{oidc, "discovery", "OK", idp.DiscoveryURL()},
		{oidc, "issuer", "OK", "byte for byte"},
		{oidc, "jwks", "OK", "1 usable key: RSA-2048 RS256 kid="},
		{oidc, "id token algorithms", "OK", "offered RS256"},
		{oidc, "response types", "OK", "code"},
		{oidc, "pkce", "OK", "S256"},
		{oidc, "client authentication", "OK", "client_secret_basic"},
		{oidc, "token endpoint", "OK", `client_id "gateway" and its secret were accepted`},
		{oidc, "authorization endpoint", "OK", "redirects to " + idp.LoginURL()},
		{oidc, "userinfo", "OK", idp.UserinfoURL()},
		{oidc, "refresh", "OK", "offline_access is requested (prompt consent)"},
		{oidc, "claims parameter", "OK", "not supported"},
		{oidc, "iss parameter", "OK", "not advertised"},
		{oidc, "revocation", "OK", idp.RevocationURL()},
		{oidc, "end session", "OK", idp.EndSessionURL()},
		{oidc, "back-channel logout", "OK", "supported"},
		{jwt, "discovery", "OK", "byte for byte"},
		{jwt, "jwks", "OK", "1 usable key"},
		{jwt, "algorithms", "OK", "the keys verify RS256"},
	}
	for _, e := range expect {
		l := run.line(e.component, e.check)
		if !strings.HasPrefix(l, e.status+" ") || !strings.Contains(l, e.detail) {
			t.Errorf("%s %s: got %q, want %s with %q", e.component, e.check, l, e.status, e.detail)
		}
	}
	if want := fmt.Sprintf("summary: %d checks: %d OK, 0 WARN, 0 FAIL, 0 SKIP", len(expect), len(expect)); !strings.Contains(run.stdout, want) {
		t.Errorf("summary: want %q:\n%s", want, run.stdout)
	}
	if t.Failed() {
		t.Logf("report:\n%s", run.stdout)
	}

	run = runCheckBinary(t, path, "--json", "--timeout", "30s")
	var results []struct{ Component, Check, Status, Detail string }
	if err := json.Unmarshal([]byte(run.stdout), &results); err != nil || run.code != 0 || len(results) != len(expect) {
		t.Fatalf("--json: exit %d, %v, %d results:\n%s", run.code, err, len(results), run.stdout)
	}
	for i, r := range results {
		if r.Component != expect[i].component || r.Check != expect[i].check || r.Status != "OK" {
			t.Errorf("--json result %d: %+v, want %s %s OK", i, r, expect[i].component, expect[i].check)
		}
	}
}

// TestCheckMistakes: each mistake gives its exit status and a line that
// names the cause.
func TestCheckMistakes(t *testing.T) {
	t.Parallel()
	redisURL := checkRedis(t)
	tests := []struct {
		name     string
		opts     []oidcprovider.Option
		setup    func(idp *oidcprovider.Provider) checkSetup
		code     int
		lines    [][3]string // component ("oidc", "jwt" or "store"), check, the line's start ({C}: component, {I}: issuer)
		noOthers bool        // every other line is OK
	}{
		{
			name: "issuer with a trailing slash",
			setup: func(idp *oidcprovider.Provider) checkSetup {
				return checkSetup{idp.Issuer() + "/", ssoClientID, redisURL}
			},
			code: 1,
			lines: [][3]string{
				{"oidc", "discovery", "OK"},
				{"oidc", "issuer", `FAIL  {C} issuer: issuer mismatch: configured "{I}/", the provider's discovery document says "{I}" (only a trailing slash differs`},
				{"jwt", "issuer", "FAIL  {C} issuer: issuer mismatch"},
			},
		},
		{
			name:  "wrong client id",
			setup: func(idp *oidcprovider.Provider) checkSetup { return checkSetup{idp.Issuer(), "gatewya", redisURL} },
			code:  1,
			lines: [][3]string{
				{"oidc", "authorization endpoint", `FAIL  {C} authorization endpoint: the provider refuses the login request with HTTP 400 "unable to retrieve client by id": client_id "gatewya" is probably unknown there`},
				// zitadel looks codes up before clients, and answers an
				// unknown client's refresh with server_error: the token
				// endpoint cannot tell.
				{"oidc", "token endpoint", "WARN"},
			},
		},
		{
			name: "unreachable Redis",
			setup: func(idp *oidcprovider.Provider) checkSetup {
				return checkSetup{idp.Issuer(), ssoClientID, "redis://127.0.0.1:1/0"}
			},
			code:     1,
			lines:    [][3]string{{"store", "ping", "FAIL  {C} ping: Redis does not answer: store: redis ping: dial tcp 127.0.0.1:1: connect: connection refused (nothing listens there"}},
			noOthers: true,
		},
		{
			name:     "provider without revocation",
			opts:     []oidcprovider.Option{oidcprovider.WithoutRevocation()},
			setup:    func(idp *oidcprovider.Provider) checkSetup { return checkSetup{idp.Issuer(), ssoClientID, redisURL} },
			code:     0,
			lines:    [][3]string{{"oidc", "revocation", "WARN  {C} revocation: the provider has no revocation_endpoint: logout cannot revoke refresh tokens"}},
			noOthers: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := checkProvider(t, tt.opts...)
			s := tt.setup(idp)
			run := runCheckBinary(t, writeCheckCaddyfile(t, s))
			if run.code != tt.code {
				t.Errorf("exit %d, want %d", run.code, tt.code)
			}
			components := map[string]string{"oidc": "oidc " + s.issuer, "jwt": "jwt " + s.issuer, "store": "store " + s.redisURL}
			named := map[string]bool{}
			for _, l := range tt.lines {
				component := components[l[0]]
				want := strings.NewReplacer("{C}", component, "{I}", idp.Issuer()).Replace(l[2])
				got := run.line(component, l[1])
				if !strings.HasPrefix(got, want) {
					t.Errorf("%s %s:\n got %q\nwant %q…", component, l[1], got, want)
				}
				named[component+" "+l[1]] = true
			}
			if tt.noOthers {
				for l := range strings.SplitSeq(strings.TrimSpace(run.stdout), "\n") {
					if l == "" || strings.HasPrefix(l, "summary:") || strings.HasPrefix(l, "OK ") {
						continue
					}
					if key, _, _ := strings.Cut(l[6:], ": "); !named[key] {
						t.Errorf("unexpected line %q", l)
					}
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s\nstderr:\n%s", run.stdout, run.stderr)
			}
		})
	}
}

// TestCheckConfigError: a configuration that cannot be loaded exits 2
// and says why.
func TestCheckConfigError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte("{\n\tportcullis {\n\t\tsession {\n\t\t\tkeys {env.CHECK_UNSET_KEYS}\n\t\t}\n\t}\n}\n:8080 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := runCheckBinary(t, path)
	if run.code != 2 || !strings.Contains(run.stderr, "CHECK_UNSET_KEYS is not set") || run.stdout != "" {
		t.Errorf("exit %d, want 2 naming the variable:\n%s\n%s", run.code, run.stdout, run.stderr)
	}
}
