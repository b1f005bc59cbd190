package integration_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestForwardAuthDeployFiles checks what deploy/forward-auth/ ships and
// the other tests do not run as a whole: both Caddyfiles validate, the
// Traefik files are YAML documents of the kinds they claim, and every
// file the guide links to exists. (nginx.conf, Caddyfile.front and
// envoy.yaml are run by the front-door tests.)
func TestForwardAuthDeployFiles(t *testing.T) {
	t.Parallel()
	env := []string{"SESSION_KEYS=" + ssoSessionKey, "OIDC_CLIENT_SECRET=" + ssoClientSecret}
	for _, f := range []string{"Caddyfile.gateway", "Caddyfile.front"} {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			validateCaddyfile(t, deployPath("forward-auth", f), env)
		})
	}
	t.Run("traefik", func(t *testing.T) {
		t.Parallel()
		var dynamic struct {
			HTTP struct {
				Middlewares map[string]map[string]any `json:"middlewares"`
				Routers     map[string]map[string]any `json:"routers"`
			} `json:"http"`
		}
		if err := yaml.Unmarshal([]byte(readDeployFile(t, "forward-auth", "traefik-dynamic.yml")), &dynamic); err != nil {
			t.Fatalf("traefik-dynamic.yml: %v", err)
		}
		if _, ok := dynamic.HTTP.Middlewares["portcullis"]["forwardAuth"]; !ok || len(dynamic.HTTP.Routers) < 2 {
			t.Fatalf("traefik-dynamic.yml has no forwardAuth middleware and routers: %+v", dynamic)
		}
		var kinds []string
		for _, doc := range strings.Split(readDeployFile(t, "forward-auth", "traefik-middleware.yaml"), "\n---\n") {
			var obj struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("traefik-middleware.yaml: %v", err)
			}
			kinds = append(kinds, obj.APIVersion+" "+obj.Kind)
		}
		if got := strings.Join(kinds, ", "); got != "traefik.io/v1alpha1 Middleware, traefik.io/v1alpha1 Middleware, v1 Service, traefik.io/v1alpha1 IngressRoute" {
			t.Fatalf("traefik-middleware.yaml holds %s", got)
		}
	})
	t.Run("guide_links", func(t *testing.T) {
		t.Parallel()
		guide := readDeployFile(t, "forward-auth", "README.md")
		for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(guide, -1) {
			if _, err := os.Stat(deployPath("forward-auth", m[1])); err != nil {
				t.Errorf("deploy/forward-auth/README.md links to %s, which does not exist", m[1])
			}
		}
	})
}
