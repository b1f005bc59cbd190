package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDeployGuideLinks checks that every relative link and every
// deploy/… path the operator's guide names exists.
func TestDeployGuideLinks(t *testing.T) {
	t.Parallel()
	guide := readDeployFile(t, "README.md")
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(guide, -1) {
		if _, err := os.Stat(deployPath(m[1])); err != nil {
			t.Errorf("deploy/README.md links to %s, which does not exist", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`(deploy/[A-Za-z0-9_./-]+)").FindAllStringSubmatch(guide, -1) {
		if _, err := os.Stat(deployPath(strings.TrimPrefix(m[1], "deploy/"))); err != nil {
			t.Errorf("deploy/README.md names %s, which does not exist", m[1])
		}
	}
}

// heredoc returns the body of `cat > name <<EOF … EOF` in text.
func heredoc(t testing.TB, text, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)cat > ` + regexp.QuoteMeta(name) + ` <<EOF\n(.*?)\nEOF\n`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("deploy/README.md has no `cat > %s <<EOF` block", name)
	}
	return m[1]
}

// TestDeployGuideKubernetesOverlay follows the guide's Kubernetes
// instructions: it runs its secrets.env here-document through the shell
// (openssl makes the keys), writes its kustomization.yaml with the path to
// this repository, and builds it with kustomize. The generated Secret
// must replace the example one everywhere it is referenced, hold real
// values, and make the ConfigMap's Caddyfile valid.
func TestDeployGuideKubernetesOverlay(t *testing.T) {
	t.Parallel()
	guide := readDeployFile(t, "README.md")
	dir := t.TempDir()

	cmd := exec.Command("sh", "-ec", "cat <<EOF\n"+heredoc(t, guide, "secrets.env")+"\nEOF\n")
	secrets, err := cmd.Output()
	if err != nil {
		t.Fatalf("the guide's secrets.env commands: %v", err)
	}
	rel, err := filepath.Rel(dir, kustomizeRoot())
	if err != nil {
		t.Fatal(err)
	}
	kust := replaceAll(t, heredoc(t, guide, "kustomization.yaml"), "../portcullis/deploy/kubernetes", filepath.ToSlash(rel))
	writeFiles(t, dir, map[string]string{"secrets.env": string(secrets), "kustomization.yaml": kust})

	relDir, err := filepath.Rel(kustomizeRoot(), dir)
	if err != nil {
		t.Fatal(err)
	}
	r := render(t, relDir)
	if len(r.secrets) != 1 || len(r.configMaps) != 1 {
		t.Fatalf("%d Secrets and %d ConfigMaps, want one of each", len(r.secrets), len(r.configMaps))
	}
	secret := r.secrets[0]
	if got := sortedKeys(secret.Data); !slices.Equal(got, secretKeys) {
		t.Fatalf("the guide's Secret has keys %v, want %v", got, secretKeys)
	}
	files := map[string]string{}
	for k, v := range secret.Data {
		if strings.Contains(string(v), "CHANGE-ME") || len(v) < 32 {
			t.Errorf("the guide's %s is %q", k, v)
		}
		files[k] = string(v)
	}
	refs := 0
	check := func(name string) {
		refs++
		if name != secret.Name {
			t.Errorf("a reference to Secret %s remains; the build's Secret is %s", name, secret.Name)
		}
	}
	for _, v := range r.deployment.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			check(v.Secret.SecretName)
		}
	}
	for _, sts := range r.statefulSets {
		for _, c := range sts.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					check(e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
	}
	if refs < 3 {
		t.Errorf("found %d references to the Secret, want the gateway's volume and Redis's two variables", refs)
	}
	if img := r.gateway(t).Image; img != "registry.example.com/portcullis:0.1.0" {
		t.Errorf("image %s", img)
	}

	secretsDir := t.TempDir()
	writeFiles(t, secretsDir, files)
	validateCaddyfile(t, configMapDir(t, r.configMaps[0], gatewaySecretDir, secretsDir), nil)
}
