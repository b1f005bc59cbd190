package integration_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Helpers shared by the deploy_*_test.go files, which check the
// deployment material under deploy/: every shipped Caddyfile validates
// with the real binary, and the files that point at each other (unit and
// Caddyfile, Dockerfile and compose file, manifests and ConfigMap) agree.

// deployPath returns the path of a file under deploy/.
func deployPath(parts ...string) string {
	return filepath.Join(append([]string{harness.RepoRoot(), "deploy"}, parts...)...)
}

// readDeployFile reads a file under deploy/.
func readDeployFile(t testing.TB, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(deployPath(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// randomSecret returns a fresh secret like the guide's
// `openssl rand -base64 48` (64 characters).
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// writeFiles writes name → content files (mode 0600) into dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// validateCaddyfile runs `portcullis validate` on a Caddyfile with only
// the given environment variables added and fails the test unless the
// configuration is valid.
func validateCaddyfile(t testing.TB, path string, env []string) {
	t.Helper()
	out, err := harness.Run(t, env, "validate", "--config", path, "--adapter", "caddyfile")
	if err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("%s does not validate: %v\n%s", path, err, unescapeLogs(out))
	}
}

// refuseCaddyfile runs `portcullis validate` and fails the test unless the
// configuration is refused with a message containing want.
func refuseCaddyfile(t testing.TB, path string, env []string, want string) {
	t.Helper()
	out, err := harness.Run(t, env, "validate", "--config", path, "--adapter", "caddyfile")
	if err == nil {
		t.Fatalf("%s validated, want it refused with %q", path, want)
	}
	if msg := unescapeLogs(out); !strings.Contains(msg, want) {
		t.Fatalf("%s refused without %q:\n%s", path, want, msg)
	}
}

// adaptedConfig is the part of Caddy's JSON config the deploy tests read.
type adaptedConfig struct {
	Admin struct {
		Listen string `json:"listen"`
	} `json:"admin"`
	Apps struct {
		HTTP struct {
			Servers map[string]struct {
				Listen []string          `json:"listen"`
				Routes []json.RawMessage `json:"routes"`
			} `json:"servers"`
		} `json:"http"`
		Portcullis struct {
			Store *struct {
				URL       string   `json:"url"`
				Addresses []string `json:"addresses"`
				Cluster   bool     `json:"cluster"`
				Master    string   `json:"master_name"`
				Password  string   `json:"password"`
			} `json:"store"`
		} `json:"portcullis"`
	} `json:"apps"`
	raw string
}

// adaptCaddyfile runs `portcullis adapt` and decodes the JSON it prints.
func adaptCaddyfile(t testing.TB, path string, env []string) adaptedConfig {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), "adapt", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("adapting %s: %v\n%s", path, err, unescapeLogs(stderr.String()))
	}
	var c adaptedConfig
	if err := json.Unmarshal(stdout.Bytes(), &c); err != nil {
		t.Fatalf("adapting %s: %v\n%s", path, err, stdout.String())
	}
	c.raw = stdout.String()
	return c
}

// listenPorts returns the ports the HTTP servers listen on (":8080" → "8080").
func (c adaptedConfig) listenPorts() []string {
	var ports []string
	for _, s := range c.Apps.HTTP.Servers {
		for _, l := range s.Listen {
			ports = append(ports, l[strings.LastIndex(l, ":")+1:])
		}
	}
	sort.Strings(ports)
	return ports
}

// serverOn returns the routes of the server listening on port.
func (c adaptedConfig) serverOn(t testing.TB, port string) []json.RawMessage {
	t.Helper()
	for _, s := range c.Apps.HTTP.Servers {
		for _, l := range s.Listen {
			if strings.HasSuffix(l, ":"+port) {
				return s.Routes
			}
		}
	}
	t.Fatalf("no server listens on port %s; listeners: %v", port, c.listenPorts())
	return nil
}

// storeHosts returns the host:port of every Redis address the store names.
func (c adaptedConfig) storeHosts(t testing.TB) []string {
	t.Helper()
	s := c.Apps.Portcullis.Store
	if s == nil {
		t.Fatal("the configuration has no portcullis store (in memory: replicas would not share state)")
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatalf("store url %q: %v", s.URL, err)
		}
		return []string{u.Host}
	}
	return s.Addresses
}

// portcullisOnEveryPath reports whether a route list sends every path
// through the portcullis handler: some route without a matcher whose
// handlers include portcullis, before any route with a matcher answers.
// That is what makes /.portcullis/healthz and readyz reachable.
func portcullisOnEveryPath(t testing.TB, routes []json.RawMessage) bool {
	t.Helper()
	for _, raw := range routes {
		var r struct {
			Match  []json.RawMessage `json:"match"`
			Handle []json.RawMessage `json:"handle"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Match) > 0 {
			continue
		}
		if containsHandler(t, r.Handle, "portcullis") {
			return true
		}
	}
	return false
}

// containsHandler looks for a handler by name, also inside subroutes.
func containsHandler(t testing.TB, handlers []json.RawMessage, name string) bool {
	t.Helper()
	for _, raw := range handlers {
		var h struct {
			Handler string `json:"handler"`
			Routes  []struct {
				Match  []json.RawMessage `json:"match"`
				Handle []json.RawMessage `json:"handle"`
			} `json:"routes"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		if h.Handler == name {
			return true
		}
		for _, r := range h.Routes {
			if len(r.Match) == 0 && containsHandler(t, r.Handle, name) {
				return true
			}
		}
	}
	return false
}

// reverseProxyDials returns the upstream dial addresses in a config.
func (c adaptedConfig) reverseProxyDials() []string {
	var dials []string
	for _, m := range regexp.MustCompile(`"dial":"([^"]+)"`).FindAllStringSubmatch(c.raw, -1) {
		dials = append(dials, m[1])
	}
	return dials
}

// filePlaceholders returns the paths of the {file.…} placeholders in a
// Caddyfile's text (after {$VAR} defaults are applied by the caller).
func filePlaceholders(text string) []string {
	var paths []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{file\.([^{}]+)\}`).FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			paths = append(paths, m[1])
		}
	}
	sort.Strings(paths)
	return paths
}

// caddyComment is a Caddyfile comment: # at the start of a token, to the
// end of the line.
var caddyComment = regexp.MustCompile(`(?m)(^|\s)#.*$`)

// stripComments removes the comments from a Caddyfile's text.
func stripComments(text string) string {
	return caddyComment.ReplaceAllString(text, "$1")
}

// replaceAll replaces old with new in s and fails the test when old does
// not occur, so that a rewrite made for a test never silently does nothing.
func replaceAll(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("expected %q in the shipped file; it changed, update the test", old)
	}
	return strings.ReplaceAll(s, old, new)
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
