package integration_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// `portcullis token check` must say what the real gateway answers: the
// same Caddyfile runs as a gateway and is judged by token check, for
// every credential × route of a table, and the statuses (and the exit
// codes) must agree.

// tokenCheckGateway has four kinds of route: scopes with a write method,
// an admin scope, API keys only, and an unprotected answer.
func tokenCheckGateway(issuer, upstream, keys string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		jwt %s {
			audience %s
		}
		api_keys {
			%s
		}
		scope orders:admin implies orders:write
		scope orders:write implies orders:read
	}
}

http://127.0.0.1:%d {
	portcullis_guard
	handle /orders/* {
		portcullis {
			require orders:read
			require orders:write methods POST DELETE
		}
		reverse_proxy %s
	}
	handle /admin/* {
		portcullis {
			require orders:admin
		}
		reverse_proxy %s
	}
	handle /keys/* {
		portcullis {
			accept api_key
		}
		reverse_proxy %s
	}
	respond "open"
}
`, p.Global(), issuer, ordersAPI, keys, p.HTTP, upstream, upstream, upstream)
	}
}

// expiredBlock makes a key block expire in the past.
func expiredBlock(block string) string {
	i := strings.LastIndex(block, "}")
	return block[:i] + "\texpires 2020-01-01T00:00:00Z\n" + block[i:]
}

func TestTokenCheckAgreesWithGateway(t *testing.T) {
	t.Parallel()
	idp := oidcprovider.Start(t)
	idp.AddClient(oidcprovider.Client{ID: machineID, Secret: machineSecret, Audience: []string{ordersAPI},
		GrantTypes: []oidcprovider.GrantType{oidcprovider.GrantClientCredentials}})
	ctx := context.Background()
	jwtRead, err := idp.ClientCredentialsToken(ctx, machineID, machineSecret, "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	jwtAdmin, err := idp.ClientCredentialsToken(ctx, machineID, machineSecret, "orders:admin")
	if err != nil {
		t.Fatal(err)
	}
	readKey, readBlock := newKey(t, "--subject", "reader", "--scopes", "orders:read")
	writeKey, writeBlock := newKey(t, "--subject", "writer", "--scopes", "orders:write")
	oldKey, oldBlock := newKey(t, "--subject", "old", "--scopes", "orders:admin")
	wrongKey := readKey[:len(readKey)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(readKey, "A")]

	up := harness.StartUpstream(t)
	conf := tokenCheckGateway(idp.Issuer(), up.Addr, readBlock+writeBlock+expiredBlock(oldBlock))
	gw := harness.StartGateway(t, conf)
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte(conf(gw.Ports)), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(gw.URL, "http://")

	creds := []struct{ name, authorization string }{
		{"none", ""},
		{"read key", "Bearer " + readKey},
		{"write key", "Bearer " + writeKey},
		{"expired admin key", "Bearer " + oldKey},
		{"wrong key", "Bearer " + wrongKey},
		{"read jwt", "Bearer " + jwtRead},
		{"admin jwt", "Bearer " + jwtAdmin},
		{"forged jwt", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
	}
	routes := []struct{ method, path string }{
		{"GET", "/orders/1"},
		{"POST", "/orders/1"},
		{"GET", "/admin/x"},
		{"GET", "/keys/x"},
		{"GET", "/open"},
	}
	cases := 0
	for _, c := range creds {
		for _, r := range routes {
			cases++
			name := fmt.Sprintf("%s %s %s", c.name, r.method, r.path)
			headers := map[string]string{}
			if c.authorization != "" {
				headers["Authorization"] = c.authorization
			}
			resp, _ := gw.Do(t, r.method, r.path, headers)
			rep, code := runTokenCheck(t, config, host, r.method, r.path, c.authorization)
			status := regexp.MustCompile(`(?m)^status:\s+(\d+)`).FindStringSubmatch(rep)
			if status == nil {
				t.Fatalf("%s: no status in the report:\n%s", name, rep)
			}
			if got := status[1]; got != fmt.Sprint(resp.StatusCode) {
				t.Errorf("%s: token check says %s, the gateway answered %d\n%s", name, got, resp.StatusCode, rep)
			}
			wantCode := 1
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				wantCode = 0
			}
			if code != wantCode {
				t.Errorf("%s: exit %d, want %d (gateway %d)", name, code, wantCode, resp.StatusCode)
			}
			for _, secret := range []string{readKey, writeKey, oldKey, wrongKey, jwtRead, jwtAdmin} {
				if strings.Contains(rep, secret) {
					t.Fatalf("%s: the report reveals a credential", name)
				}
			}
		}
	}
	if cases < 30 {
		t.Fatalf("%d cases, want at least 30", cases)
	}
	// The report explains: the principal with implied scopes, and what failed.
	rep, _ := runTokenCheck(t, config, host, "POST", "/orders/1", "Bearer "+readKey)
	for _, want := range []string{"decision:        deny", "reason:          insufficient_scope", "subject:         reader",
		"required scopes: orders:read orders:write", "path=/orders/*"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	rep, _ = runTokenCheck(t, config, host, "GET", "/admin/x", jwtAdmin) // a bare JWT
	for _, want := range []string{"decision:        allow", "issuer:          " + idp.Issuer(), "scopes:          orders:admin orders:read orders:write"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if n := up.Count(); n == 0 {
		t.Fatal("the gateway never reached the upstream; the table proves nothing")
	}
	// A broken configuration is exit status 2.
	bad := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(bad, []byte("{\n\tportcullis {\n\t\tnonsense\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, code := runTokenCheck(t, bad, host, "GET", "/", ""); code != 2 {
		t.Fatalf("broken config: exit %d, want 2", code)
	}
}

// runTokenCheck runs `portcullis token check` with the credential on
// stdin and returns its output and exit status.
func runTokenCheck(t *testing.T, config, host, method, path, cred string) (string, int) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), "token", "check", "--config", config, "--scheme", "http",
		"--host", host, "--method", method, "--path", path)
	cmd.Stdin = strings.NewReader(cred)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("token check: %v\n%s", err, out.String())
	return "", -1
}
