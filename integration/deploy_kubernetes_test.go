package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
)

// k8sKinds are the object kinds the manifests may use, by apiVersion and
// kind, each decoded into its Kubernetes API type.
var k8sKinds = map[string]func() any{
	"v1/Namespace":                       func() any { return new(corev1.Namespace) },
	"v1/ServiceAccount":                  func() any { return new(corev1.ServiceAccount) },
	"v1/Service":                         func() any { return new(corev1.Service) },
	"v1/ConfigMap":                       func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                          func() any { return new(corev1.Secret) },
	"apps/v1/Deployment":                 func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                func() any { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":      func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return new(networkingv1.NetworkPolicy) },
}

// decodeK8s decodes one manifest strictly into its API type: an unknown
// or misspelled field, a duplicate key or a wrong type is an error.
func decodeK8s(t testing.TB, source string, doc []byte) any {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	newObj := k8sKinds[meta.APIVersion+"/"+meta.Kind]
	if newObj == nil {
		t.Fatalf("%s: unexpected kind %s/%s", source, meta.APIVersion, meta.Kind)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s: %s/%s: %v", source, meta.APIVersion, meta.Kind, err)
	}
	return obj
}

// kustomizeRoot is deploy/kubernetes.
func kustomizeRoot() string { return deployPath("kubernetes") }

// kustomizationDirs returns every directory under deploy/kubernetes that
// holds a kustomization.yaml, relative to it ("." for the root).
func kustomizationDirs(t testing.TB) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(kustomizeRoot(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			rel, _ := filepath.Rel(kustomizeRoot(), filepath.Dir(path))
			dirs = append(dirs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// readKustomization decodes a kustomization.yaml strictly.
func readKustomization(t testing.TB, dir string) kusttypes.Kustomization {
	t.Helper()
	path := filepath.Join(kustomizeRoot(), dir, "kustomization.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k kusttypes.Kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: apiVersion %q kind %q", path, k.APIVersion, k.Kind)
	}
	return k
}

// kustomizationRefs returns the paths a kustomization names: resources
// (files or directories), generator sources and patches.
func kustomizationRefs(k kusttypes.Kustomization) []string {
	refs := slices.Clone(k.Resources)
	refs = append(refs, k.Components...)
	source := func(s string) string { // "[key=]path"
		if _, p, ok := strings.Cut(s, "="); ok {
			return p
		}
		return s
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range append(slices.Clone(g.FileSources), g.EnvSources...) {
			refs = append(refs, source(f))
		}
	}
	for _, g := range k.SecretGenerator {
		for _, f := range append(slices.Clone(g.FileSources), g.EnvSources...) {
			refs = append(refs, source(f))
		}
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			refs = append(refs, p.Path)
		}
	}
	return refs
}

// TestDeployKubernetesFiles checks the kustomize tree as files: every
// kustomization decodes strictly, names only files that exist, and every
// file beside it is named by it (nothing stale, nothing forgotten); every
// resource file decodes strictly into its Kubernetes API type; every
// entry point (a kustomization no other one includes) is in the guide.
func TestDeployKubernetesFiles(t *testing.T) {
	t.Parallel()
	root := kustomizeRoot()
	dirs := kustomizationDirs(t)
	included := map[string]bool{}
	for _, dir := range dirs {
		k := readKustomization(t, dir)
		refs := map[string]bool{}
		for _, ref := range kustomizationRefs(k) {
			target := filepath.Clean(filepath.Join(root, dir, ref))
			st, err := os.Stat(target)
			switch {
			case err != nil:
				t.Errorf("%s/kustomization.yaml names %s, which does not exist", dir, ref)
				continue
			case st.IsDir():
				if _, err := os.Stat(filepath.Join(target, "kustomization.yaml")); err != nil {
					t.Errorf("%s/kustomization.yaml names directory %s, which has no kustomization.yaml", dir, ref)
				}
				rel, _ := filepath.Rel(root, target)
				included[rel] = true
			case filepath.Dir(target) == filepath.Join(root, dir):
				refs[filepath.Base(target)] = true
			}
		}
		for _, r := range k.Resources {
			path := filepath.Join(root, dir, r)
			if st, err := os.Stat(path); err != nil || st.IsDir() {
				continue
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, doc := range strings.Split(string(raw), "\n---\n") {
				if strings.TrimSpace(doc) != "" {
					decodeK8s(t, fmt.Sprintf("%s/%s (document %d)", dir, r, i+1), []byte(doc))
				}
			}
		}
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() && e.Name() != "kustomization.yaml" && !refs[e.Name()] {
				t.Errorf("%s/%s is not named by %s/kustomization.yaml", dir, e.Name(), dir)
			}
		}
	}
	// Directories without a kustomization hold only directories.
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		if !slices.Contains(dirs, rel) {
			t.Errorf("%s is in a directory without a kustomization.yaml", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	guide := readDeployFile(t, "README.md")
	for _, dir := range dirs {
		if included[dir] {
			continue
		}
		name := "deploy/kubernetes"
		if dir != "." {
			name += "/" + filepath.ToSlash(dir)
		}
		if !strings.Contains(guide, name) {
			t.Errorf("entry point %s is not in deploy/README.md", name)
		}
	}
}

// rendered is one kustomize build, decoded.
type rendered struct {
	dir          string
	deployment   *appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	pdbs         []*policyv1.PodDisruptionBudget
	netpols      []*networkingv1.NetworkPolicy
	namespaces   []string
}

// render builds a kustomization with kustomize's own library, as
// `kubectl apply -k` does, and decodes every object strictly.
func render(t testing.TB, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(kustomizeRoot(), dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{dir: dir, services: map[string]*corev1.Service{}}
	for _, res := range rm.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		source := fmt.Sprintf("kustomize build %s: %s %s", dir, res.GetKind(), res.GetName())
		switch o := decodeK8s(t, source, doc).(type) {
		case *corev1.Namespace:
			r.namespaces = append(r.namespaces, o.Name)
			continue
		case *appsv1.Deployment:
			if r.deployment != nil {
				t.Fatalf("%s: more than one Deployment", dir)
			}
			r.deployment = o
		case *appsv1.StatefulSet:
			r.statefulSets = append(r.statefulSets, o)
		case *corev1.Service:
			r.services[o.Name] = o
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, o)
		case *corev1.Secret:
			r.secrets = append(r.secrets, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *networkingv1.NetworkPolicy:
			r.netpols = append(r.netpols, o)
		}
		if ns := res.GetNamespace(); ns != "portcullis" {
			t.Errorf("%s is in namespace %q, want portcullis", source, ns)
		}
	}
	return r
}

// entryPoints are the kustomizations an operator applies.
var entryPoints = []string{".", "overlays/managed-redis", "overlays/redis-cluster", "overlays/redis-sentinel"}

// gatewaySecretDir is where the Deployment mounts the Secret
// (TestDeployKubernetesManifests checks it against the Caddyfile).
const gatewaySecretDir = "/run/secrets/portcullis"

// secretKeys are the keys of the gateway's Secret, each a file in the
// secret volume.
var secretKeys = []string{"api_key_pepper", "oidc_client_secret", "redis_password", "session_keys"}

// gateway returns the gateway container and checks the Deployment
// around it.
func (r rendered) gateway(t testing.TB) corev1.Container {
	t.Helper()
	d := r.deployment
	if d == nil {
		t.Fatalf("%s: no Deployment", r.dir)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("%s: replicas %v, want 3", r.dir, d.Spec.Replicas)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: want one container", r.dir)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// containerPort returns the number of a named container port.
func containerPort(t testing.TB, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, name)
	return 0
}

// selects reports whether a label selector selects pods with these labels.
func selects(t testing.TB, sel map[string]string, podLabels map[string]string) bool {
	t.Helper()
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels))
}

// TestDeployKubernetesManifests renders every entry point with kustomize
// and checks what the gateway needs: 3 replicas; readiness on
// /.portcullis/readyz and liveness on /.portcullis/healthz, on the
// container port the Caddyfile listens on; requests and limits; a
// non-root, read-only, capability-free container; the generated
// ConfigMap and Secret mounted where the Caddyfile reads them; Service and
// PodDisruptionBudget selecting the pods. The try-it-out build adds Redis
// (StatefulSet, headless Service, NetworkPolicy) under the name the
// store uses; the overlays have none.
func TestDeployKubernetesManifests(t *testing.T) {
	t.Parallel()
	for _, dir := range entryPoints {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := render(t, dir)
			c := r.gateway(t)
			pod := r.deployment.Spec.Template
			if !selects(t, r.deployment.Spec.Selector.MatchLabels, pod.Labels) {
				t.Error("the Deployment's selector does not select its pods")
			}
			http := containerPort(t, c, "http")
			for probe, p := range map[string]*corev1.Probe{
				"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe,
			} {
				want := "/.portcullis/healthz"
				if probe == "readiness" {
					want = "/.portcullis/readyz"
				}
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port != intstr.FromString("http") {
					t.Errorf("%s probe %+v, want GET %s on port http", probe, p, want)
				}
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[res]; !ok {
					t.Errorf("no %s request", res)
				}
				if _, ok := c.Resources.Limits[res]; !ok {
					t.Errorf("no %s limit", res)
				}
			}
			sc, psc := c.SecurityContext, pod.Spec.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
				t.Errorf("container securityContext %+v, want read-only root, no privilege escalation, drop ALL", sc)
			}
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v, want non-root and RuntimeDefault seccomp", psc)
			}
			if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
				t.Error("the pod mounts a service account token it does not need")
			}
			if strings.HasPrefix(c.Image, "portcullis") || !strings.Contains(c.Image, ":") {
				t.Errorf("image %q: the kustomization's images entry did not apply", c.Image)
			}
			if !hasFlag(c.Args, "--config", "/etc/portcullis/Caddyfile") {
				t.Errorf("args %q, want --config /etc/portcullis/Caddyfile", c.Args)
			}

			// Generated ConfigMap and Secret, mounted where the Caddyfile
			// reads them.
			if len(r.configMaps) != 1 || len(r.secrets) != 1 {
				t.Fatalf("%d ConfigMaps and %d Secrets, want one of each", len(r.configMaps), len(r.secrets))
			}
			cm, secret := r.configMaps[0], r.secrets[0]
			if !strings.HasPrefix(cm.Name, "portcullis-config-") || !strings.HasPrefix(secret.Name, "portcullis-secrets-") {
				t.Errorf("ConfigMap %s, Secret %s: want generated (hashed) names", cm.Name, secret.Name)
			}
			if got := sortedKeys(secret.Data); !slices.Equal(got, secretKeys) {
				t.Errorf("Secret keys %v, want %v", got, secretKeys)
			}
			mounts := map[string]string{} // volume → mount path
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			var configDir, secretDir string
			for _, v := range pod.Spec.Volumes {
				switch {
				case v.ConfigMap != nil:
					if v.ConfigMap.Name != cm.Name {
						t.Errorf("volume %s mounts ConfigMap %s, want %s", v.Name, v.ConfigMap.Name, cm.Name)
					}
					configDir = mounts[v.Name]
				case v.Secret != nil:
					if v.Secret.SecretName != secret.Name {
						t.Errorf("volume %s mounts Secret %s, want %s", v.Name, v.Secret.SecretName, secret.Name)
					}
					if m := v.Secret.DefaultMode; m == nil || *m != 0o440 {
						t.Errorf("secret volume mode %v, want 0440", m)
					}
					secretDir = mounts[v.Name]
				case v.EmptyDir != nil:
				default:
					t.Errorf("unexpected volume %s", v.Name)
				}
				if _, ok := mounts[v.Name]; !ok {
					t.Errorf("volume %s is not mounted", v.Name)
				}
			}
			if secretDir != gatewaySecretDir {
				t.Errorf("the Secret is mounted at %q, want %s", secretDir, gatewaySecretDir)
			}
			if configDir != "/etc/portcullis" {
				t.Errorf("the ConfigMap is mounted at %q, want /etc/portcullis", configDir)
			}
			var placeholders []string
			for _, text := range cm.Data {
				placeholders = append(placeholders, filePlaceholders(stripComments(text))...)
			}
			slices.Sort(placeholders)
			var want []string
			for _, k := range secretKeys {
				want = append(want, secretDir+"/"+k)
			}
			if !slices.Equal(placeholders, want) {
				t.Errorf("the Caddyfile reads %v, the Secret volume provides %v", placeholders, want)
			}

			cfg := validateConfigMap(t, cm, secretDir)
			if !portcullisOnEveryPath(t, cfg.serverOn(t, fmt.Sprint(http))) {
				t.Error("the server on the http port does not send every path through portcullis: the probes would get 404 or 401")
			}
			cfg.serverOn(t, fmt.Sprint(containerPort(t, c, "metrics")))
			if !strings.Contains(cfg.raw, `"handler":"metrics"`) {
				t.Error("no metrics handler on the metrics port")
			}

			// Service and PodDisruptionBudget.
			svc := r.services["portcullis"]
			if svc == nil || !selects(t, svc.Spec.Selector, pod.Labels) {
				t.Fatalf("Service portcullis %+v does not select the gateway pods", svc)
			}
			if svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
				t.Errorf("Service targets %v, want the http port", svc.Spec.Ports[0].TargetPort)
			}
			if len(r.pdbs) != 1 || !selects(t, r.pdbs[0].Spec.Selector.MatchLabels, pod.Labels) ||
				r.pdbs[0].Spec.MaxUnavailable == nil || r.pdbs[0].Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("want one PodDisruptionBudget with maxUnavailable 1 selecting the gateway pods, got %+v", r.pdbs)
			}
			if !slices.Contains(r.namespaces, "portcullis") {
				t.Error("the Namespace portcullis is not part of the build")
			}

			hosts := cfg.storeHosts(t)
			store := cfg.Apps.Portcullis.Store
			switch dir {
			case ".":
				checkInClusterRedis(t, r, secret, pod.Labels, hosts)
			case "overlays/managed-redis":
				if !strings.HasPrefix(store.URL, "rediss://") {
					t.Errorf("managed Redis store %q is not TLS (rediss://)", store.URL)
				}
			case "overlays/redis-cluster":
				if !store.Cluster || len(store.Addresses) < 3 {
					t.Errorf("cluster store %+v", store)
				}
			case "overlays/redis-sentinel":
				if store.Master == "" || len(store.Addresses) < 3 {
					t.Errorf("sentinel store %+v", store)
				}
			}
			if dir != "." && (len(r.statefulSets) > 0 || r.services["redis"] != nil) {
				t.Error("an overlay for an existing Redis still deploys the in-cluster one")
			}
		})
	}
}

// checkInClusterRedis checks the try-it-out Redis: the store's host is
// its headless Service, the StatefulSet's password comes from the
// gateway's Secret, and only gateway pods may connect.
func checkInClusterRedis(t *testing.T, r rendered, secret *corev1.Secret, gatewayLabels map[string]string, hosts []string) {
	if len(r.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets, want the Redis one", len(r.statefulSets))
	}
	sts := r.statefulSets[0]
	svc := r.services[sts.Spec.ServiceName]
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone || !selects(t, svc.Spec.Selector, sts.Spec.Template.Labels) {
		t.Fatalf("the StatefulSet's serviceName %q is not a headless Service selecting its pods", sts.Spec.ServiceName)
	}
	if want := fmt.Sprintf("%s:%d", svc.Name, svc.Spec.Ports[0].Port); !slices.Equal(hosts, []string{want}) {
		t.Errorf("the gateway's store is %v, want the Redis Service %s", hosts, want)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Error("Redis has no persistent volume")
	}
	c := sts.Spec.Template.Spec.Containers[0]
	refs := 0
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs++
			if ref := e.ValueFrom.SecretKeyRef; ref.Name != secret.Name || secret.Data[ref.Key] == nil {
				t.Errorf("Redis env %s reads %s/%s, which the build does not have (Secret %s)", e.Name, ref.Name, ref.Key, secret.Name)
			}
		}
	}
	if refs == 0 || !slices.Contains(c.Args, "--requirepass") {
		t.Error("Redis does not require the password from the Secret")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("Redis container securityContext %+v", sc)
	}
	if c.ReadinessProbe == nil {
		t.Error("Redis has no readiness probe")
	}
	if len(r.netpols) != 1 {
		t.Fatal("want one NetworkPolicy for Redis")
	}
	np := r.netpols[0]
	if !selects(t, np.Spec.PodSelector.MatchLabels, sts.Spec.Template.Labels) || len(np.Spec.Ingress) != 1 ||
		len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].PodSelector == nil ||
		!selects(t, np.Spec.Ingress[0].From[0].PodSelector.MatchLabels, gatewayLabels) {
		t.Errorf("the NetworkPolicy does not limit Redis to the gateway pods: %+v", np.Spec)
	}
}

// configMapDir writes a rendered ConfigMap's files into a directory, as
// the volume mounts them, with the secret directory moved to secretsDir,
// and returns the Caddyfile's path.
func configMapDir(t testing.TB, cm *corev1.ConfigMap, secretDir, secretsDir string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range cm.Data {
		if strings.Contains(text, "{file.") {
			text = replaceAll(t, text, "{file."+secretDir+"/", "{file."+secretsDir+"/")
		}
		writeFiles(t, dir, map[string]string{name: text})
	}
	return filepath.Join(dir, "Caddyfile")
}

// validateConfigMap validates the ConfigMap's Caddyfile with fresh
// random secrets (two session keys, as during a rotation) in the files
// the Secret volume provides, and returns the adapted config.
func validateConfigMap(t testing.TB, cm *corev1.ConfigMap, secretDir string) adaptedConfig {
	t.Helper()
	secretsDir := t.TempDir()
	files := map[string]string{}
	for _, k := range secretKeys {
		files[k] = randomSecret(t)
	}
	files["session_keys"] = randomSecret(t) + "," + randomSecret(t)
	writeFiles(t, secretsDir, files)
	caddyfile := configMapDir(t, cm, secretDir, secretsDir)
	validateCaddyfile(t, caddyfile, nil)
	return adaptCaddyfile(t, caddyfile, nil)
}

// TestDeployKubernetesExampleSecret checks that the example Secret is
// refused: its placeholders are too short to be keys, so a gateway
// deployed without replacing them never starts with a guessable key.
func TestDeployKubernetesExampleSecret(t *testing.T) {
	t.Parallel()
	r := render(t, ".")
	cm, secret := r.configMaps[0], r.secrets[0]
	for _, k := range secretKeys {
		if !strings.Contains(string(secret.Data[k]), "CHANGE-ME") {
			t.Errorf("the example Secret's %s is not an obvious placeholder", k)
		}
	}
	secretsDir := t.TempDir()
	files := map[string]string{}
	for _, k := range secretKeys {
		files[k] = string(secret.Data[k])
	}
	writeFiles(t, secretsDir, files)
	caddyfile := configMapDir(t, cm, gatewaySecretDir, secretsDir)
	refuseCaddyfile(t, caddyfile, nil, "keys must be at least 32 bytes")
	// With real session keys, the example pepper is refused too.
	writeFiles(t, secretsDir, map[string]string{"session_keys": randomSecret(t)})
	refuseCaddyfile(t, caddyfile, nil, "pepper is 9 bytes")
}

// redisRequirePass sets a password on a private redis-server.
func redisRequirePass(t testing.TB, addr, password string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	args := []string{"CONFIG", "SET", "requirepass", password}
	cmd := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		cmd += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || reply != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q %v", reply, err)
	}
}

// TestDeployKubernetesProbes runs the gateway on the Kubernetes
// ConfigMap's Caddyfile (ports, secret directory, Redis address and
// identity provider moved to loopback) with a password-protected Redis,
// and checks what the kubelet and the HEALTHCHECK will see: healthz and
// readyz 200; the image's health probe healthy; with Redis down, readyz
// 503 and the probe unhealthy while healthz stays 200 (liveness must not
// restart gateways for a Redis outage); metrics on the metrics port.
func TestDeployKubernetesProbes(t *testing.T) {
	t.Parallel()
	probe := healthprobeBinary(t)
	r := render(t, ".")
	c := r.gateway(t)
	cm := r.configMaps[0]
	redis := redistest.StartStandalone(t)
	password := randomSecret(t)
	redisRequirePass(t, redis.Addr(), password)

	secretsDir := t.TempDir()
	writeFiles(t, secretsDir, map[string]string{
		"session_keys": randomSecret(t), "oidc_client_secret": randomSecret(t),
		"api_key_pepper": randomSecret(t), "redis_password": password,
	})
	closed := harness.FreePort(t) // nothing listens: no request leaves the machine
	metricsPort := harness.FreePort(t)
	http8080 := fmt.Sprint(containerPort(t, c, "http"))
	metrics := fmt.Sprint(containerPort(t, c, "metrics"))
	conf := func(p harness.Ports) string {
		s := cm.Data["Caddyfile"]
		store := replaceAll(t, cm.Data["store.caddyfile"], "redis:6379", redis.Addr())
		// A timeout that means "hung": this checks the probes' answers,
		// not the 50 ms production timeout, which a busy machine can
		// exceed on a healthy Redis.
		store = replaceAll(t, store, "\tpassword ", "\ttimeout 10s\n\tpassword ")
		s = replaceAll(t, s, "import store.caddyfile", store)
		s = replaceAll(t, s, "{file."+gatewaySecretDir+"/", "{file."+secretsDir+"/")
		s = replaceAll(t, s, "admin localhost:2019", fmt.Sprintf("admin 127.0.0.1:%d", p.Admin))
		s = replaceAll(t, s, "http://:"+http8080+" {", fmt.Sprintf("http://127.0.0.1:%d {", p.HTTP))
		s = replaceAll(t, s, "http://:"+metrics+" {", fmt.Sprintf("http://127.0.0.1:%d {", metricsPort))
		s = replaceAll(t, s, "https://idp.example.com", fmt.Sprintf("http://127.0.0.1:%d", closed))
		s = replaceAll(t, s, "reverse_proxy backend:8080", fmt.Sprintf("reverse_proxy 127.0.0.1:%d", closed))
		return s
	}
	g := harness.StartGateway(t, conf)

	get := func(path string) (int, string) {
		resp, body := g.Do(t, http.MethodGet, path, nil)
		return resp.StatusCode, body
	}
	if code, body := get(c.LivenessProbe.HTTPGet.Path); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("liveness %s: %d %s", c.LivenessProbe.HTTPGet.Path, code, body)
	}
	readyz := c.ReadinessProbe.HTTPGet.Path
	if code, body := get(readyz); code != 200 {
		t.Fatalf("readiness %s with Redis up: %d %s\n%s", readyz, code, body, g.Logs())
	}
	if err := runProbe(probe, g.URL+readyz); err != nil {
		t.Errorf("health probe with Redis up: %v", err)
	}
	if code, _ := get("/orders"); code != http.StatusUnauthorized {
		t.Errorf("a request without credentials: %d, want 401", code)
	}
	resp, body := harness.Send(t, mustRequest(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)))
	if resp.StatusCode != 200 || !strings.Contains(body, "portcullis_decisions_total") {
		t.Errorf("metrics: %d, portcullis_decisions_total missing:\n%.500s", resp.StatusCode, body)
	}

	redis.Stop()
	deadline := time.Now().Add(30 * time.Second) // "hung", not "slow"
	for {
		code, body := get(readyz)
		if code == http.StatusServiceUnavailable {
			var v struct{ Status string }
			if json.Unmarshal([]byte(body), &v) != nil || v.Status != "unavailable" {
				t.Errorf("readyz body %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d with Redis down", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := runProbe(probe, g.URL+readyz); err == nil {
		t.Error("health probe healthy with Redis down")
	}
	if code, _ := get(c.LivenessProbe.HTTPGet.Path); code != 200 {
		t.Errorf("liveness with Redis down: %d, want 200 (a Redis outage must not restart gateways)", code)
	}
}

// mustRequest makes a GET request.
func mustRequest(t testing.TB, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
