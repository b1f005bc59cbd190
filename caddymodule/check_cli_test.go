package caddymodule

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
)

// Secrets of the check command's tests; none may appear in a report.
const (
	checkTestSecret        = "check-test-client-secret-0123456789"
	checkTestRedisPassword = "check-test-redis-password-0123456789"
	checkTestSessionKey    = "check-test-session-key-0123456789abcdef"
)

// startCheckIDP serves a small OpenID provider that knows the client
// "gateway" with checkTestSecret and the redirect URI
// http://127.0.0.1:8080/.portcullis/callback.
func startCheckIDP(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var srv *httptest.Server
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		iss := srv.URL
		reply(w, http.StatusOK, map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"userinfo_endpoint": iss + "/userinfo", "jwks_uri": iss + "/keys", "end_session_endpoint": iss + "/logout",
			"revocation_endpoint": iss + "/revoke", "response_types_supported": []string{"code"},
			"code_challenge_methods_supported":      []string{"S256"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"backchannel_logout_supported":          true, "backchannel_logout_session_supported": true,
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if id != "gateway" || secret != checkTestSecret {
			reply(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
			return
		}
		reply(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gateway" || q.Get("redirect_uri") != "http://127.0.0.1:8080/.portcullis/callback" {
			http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/login", http.StatusFound)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// checkCaddyfile writes a Caddyfile with a Redis store, sessions, an
// oidc block and a jwt block, and sets the secrets' environment.
func checkCaddyfile(t *testing.T, redisURL, issuer string) string {
	t.Helper()
	t.Setenv("CHECK_TEST_CLIENT_SECRET", checkTestSecret)
	t.Setenv("CHECK_TEST_REDIS_PASSWORD", checkTestRedisPassword)
	t.Setenv("CHECK_TEST_SESSION_KEYS", checkTestSessionKey)
	return writeCaddyfile(t, `		store `+redisURL+` {
			password {env.CHECK_TEST_REDIS_PASSWORD}
		}
		session {
			keys {env.CHECK_TEST_SESSION_KEYS}
			insecure_cookie
		}
		oidc `+issuer+` {
			client_id gateway
			client_secret {env.CHECK_TEST_CLIENT_SECRET}
			redirect_url http://127.0.0.1:8080/.portcullis/callback
			post_logout_redirect_url http://127.0.0.1:8080/bye
		}
		jwt `+issuer+` {
			audience https://api.example.com
		}`)
}

// passwordRedis starts a private Redis that requires
// checkTestRedisPassword and returns its URL (without the password).
func passwordRedis(t *testing.T) string {
	t.Helper()
	srv := redistest.StartStandalone(t)
	admin, err := store.NewRedis(store.RedisConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.Client().ConfigSet(ctx, "requirepass", checkTestRedisPassword).Err(); err != nil {
		t.Fatal(err)
	}
	return srv.URL()
}

// runCheckCLI runs the command in-process and returns its exit status,
// error and output.
func runCheckCLI(t *testing.T, o checkOptions) (int, error, string) {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code, err := runCheck(ctx, o, &out, &errOut)
	for _, s := range []string{checkTestSecret, checkTestRedisPassword, checkTestSessionKey} {
		if strings.Contains(out.String()+errOut.String(), s) || (err != nil && strings.Contains(err.Error(), s)) {
			t.Errorf("a secret (%.12s…) is printed:\n%s\n%s", s, out.String(), errOut.String())
		}
	}
	return code, err, out.String()
}

// TestCheckCommandHealthy: Redis with a password, the provider and the
// issuer all answer as the configuration needs; exit 0, text and JSON.
func TestCheckCommandHealthy(t *testing.T) {
	idp := startCheckIDP(t)
	cfg := checkCaddyfile(t, passwordRedis(t), idp.URL)

	code, err, out := runCheckCLI(t, checkOptions{config: cfg})
	if code != checkExitOK || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	for _, want := range []string{
		"OK    store redis://127.0.0.1:",
		"OK    oidc " + idp.URL + " issuer: \"" + idp.URL + "\" matches the discovery document byte for byte",
		"OK    oidc " + idp.URL + " token endpoint: client_id \"gateway\"",
		"OK    oidc " + idp.URL + " authorization endpoint: redirects to " + idp.URL + "/login",
		"OK    oidc " + idp.URL + " back-channel logout url: http://127.0.0.1:8080/.portcullis/backchannel-logout",
		"OK    jwt " + idp.URL + " jwks: 1 usable key: RSA-2048 RS256 kid=k1",
		" 0 FAIL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}

	code, err, out = runCheckCLI(t, checkOptions{config: cfg, json: true})
	if code != checkExitOK || err != nil {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	var results []struct{ Component, Check, Status, Detail string }
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) < 10 {
		t.Fatalf("--json is not a list of results: %v\n%s", err, out)
	}
	for _, r := range results {
		if r.Status == "FAIL" || r.Component == "" || r.Check == "" || r.Detail == "" {
			t.Errorf("--json result %+v", r)
		}
	}
}

// TestCheckCommandFailures: each mistake exits 1 with a line naming it.
func TestCheckCommandFailures(t *testing.T) {
	idp := startCheckIDP(t)
	redisURL := passwordRedis(t)
	tests := []struct {
		name   string
		setup  func(t *testing.T) string // returns the config path
		want   string
		status string
	}{
		{"wrong client secret", func(t *testing.T) string {
			p := checkCaddyfile(t, redisURL, idp.URL)
			t.Setenv("CHECK_TEST_CLIENT_SECRET", "not-"+checkTestSecret)
			return p
		}, `token endpoint: the provider refuses client_id "gateway" with client_secret_basic (HTTP 401 invalid_client): wrong client id or secret`, "FAIL"},
		{"issuer with a trailing slash", func(t *testing.T) string {
			return checkCaddyfile(t, redisURL, idp.URL+"/")
		}, "issuer: issuer mismatch", "FAIL"},
		{"unreachable Redis", func(t *testing.T) string {
			return checkCaddyfile(t, "redis://127.0.0.1:1/0", idp.URL)
		}, "ping: Redis does not answer", "FAIL"},
		{"wrong Redis password", func(t *testing.T) string {
			p := checkCaddyfile(t, redisURL, idp.URL)
			t.Setenv("CHECK_TEST_REDIS_PASSWORD", "not-"+checkTestRedisPassword)
			return p
		}, "check the store's username and password", "FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err, out := runCheckCLI(t, checkOptions{config: tt.setup(t)})
			if code != checkExitFailed || !errors.Is(err, errChecksFailed) {
				t.Fatalf("exit %d, %v, want %d:\n%s", code, err, checkExitFailed, out)
			}
			line := lineWith(out, tt.want)
			if !strings.HasPrefix(line, tt.status) {
				t.Errorf("no %s line with %q:\n%s", tt.status, tt.want, out)
			}
		})
	}
}

// lineWith returns the first line of out containing s.
func lineWith(out, s string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestCheckCommandConfigErrors: a configuration that cannot be loaded
// exits 2 with the reason, before any network I/O.
func TestCheckCommandConfigErrors(t *testing.T) {
	missingEnv := writeCaddyfile(t, "\t\tsession {\n\t\t\tkeys {env.CHECK_TEST_UNSET_VARIABLE}\n\t\t}")
	plainHTTP := writeCaddyfile(t, "\t\tjwt http://issuer.example.com {\n\t\t\taudience x\n\t\t}")
	noApp := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(noApp, []byte(":8080 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    checkOptions
		want string
	}{
		{"no --config", checkOptions{}, "--config is required"},
		{"missing file", checkOptions{config: filepath.Join(t.TempDir(), "nope")}, "reading config"},
		{"unset secret", checkOptions{config: missingEnv}, "CHECK_TEST_UNSET_VARIABLE is not set"},
		{"invalid config", checkOptions{config: plainHTTP}, "plain http"},
		{"no portcullis app", checkOptions{config: noApp}, "configures no portcullis app"},
		{"bad adapter", checkOptions{config: noApp, adapter: "nginx"}, `unknown config adapter "nginx"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err, out := runCheckCLI(t, tt.o)
			if code != checkExitConfig || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, %v; want %d and %q", code, err, checkExitConfig, tt.want)
			}
			if out != "" {
				t.Errorf("printed a report: %s", out)
			}
		})
	}
}

// TestCheckCommandNothingToCheck: an in-memory store and no provider
// make an empty report, exit 0.
func TestCheckCommandNothingToCheck(t *testing.T) {
	t.Parallel()
	code, err, out := runCheckCLI(t, checkOptions{config: writeCaddyfile(t, "\t\tstore memory")})
	if code != checkExitOK || err != nil || !strings.Contains(out, "summary: 0 checks") || !strings.Contains(out, "nothing to check") {
		t.Errorf("exit %d, %v:\n%s", code, err, out)
	}
}

// TestCheckCommandRegistered: `check` is a subcommand of the binary, with
// its flags, and its cobra command returns an error exactly when a check
// failed.
func TestCheckCommandRegistered(t *testing.T) {
	reg, ok := caddycmd.Commands()["check"]
	if !ok {
		t.Fatal("no check command registered")
	}
	idp := startCheckIDP(t)
	good := checkCaddyfile(t, passwordRedis(t), idp.URL)
	run := func(args ...string) (string, error) {
		cmd := &cobra.Command{Use: "check", SilenceUsage: true, SilenceErrors: true}
		reg.CobraFunc(cmd)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("--config", good, "--adapter", "caddyfile", "--json", "--timeout", "20s")
	if err != nil || !strings.HasPrefix(out, "[") {
		t.Fatalf("healthy: %v\n%s", err, out)
	}
	bad := writeCaddyfile(t, "\t\tstore redis://127.0.0.1:1/0")
	out, err = run("-c", bad)
	if err == nil || !strings.Contains(out, "FAIL  store redis://127.0.0.1:1/0 ping") {
		t.Fatalf("unreachable Redis: %v\n%s", err, out)
	}
	if !strings.Contains(reg.Usage, "--config") || !strings.Contains(reg.Long, "Exit status") {
		t.Errorf("usage %q", reg.Usage)
	}
}
