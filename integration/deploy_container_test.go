package integration_test

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// dockerInstruction is one Dockerfile instruction, continuation lines
// joined.
type dockerInstruction struct {
	Cmd   string   // upper case: FROM, RUN, COPY …
	Flags []string // leading --flag=value options
	Args  string   // the rest
	Line  int
}

// dockerStage is a FROM and the instructions after it.
type dockerStage struct {
	Base, Name   string
	Instructions []dockerInstruction
}

// find returns the stage's instructions of one kind.
func (s dockerStage) find(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile reads a Dockerfile the way BuildKit's parser does for
// the subset used here: comments, backslash continuations (comment lines
// inside them are dropped), instruction flags, ARGs before the first FROM
// expanded in FROM lines.
func parseDockerfile(t testing.TB, text string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	globalArgs := map[string]string{}
	var joined strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && joined.Len() == 0) {
			continue
		}
		if joined.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			joined.WriteString(cont + " ")
			continue
		}
		joined.WriteString(line)
		full := joined.String()
		joined.Reset()
		cmd, rest, _ := strings.Cut(full, " ")
		in := dockerInstruction{Cmd: strings.ToUpper(cmd), Line: start}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			flag, after, _ := strings.Cut(rest, " ")
			in.Flags = append(in.Flags, flag)
			rest = strings.TrimSpace(after)
		}
		in.Args = rest
		switch {
		case in.Cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.Args, "=")
			globalArgs[k] = v
		case in.Cmd == "FROM":
			base, name, _ := strings.Cut(in.Args, " ")
			base = os.Expand(base, func(k string) string { return globalArgs[k] })
			_, name, _ = strings.Cut(strings.ToLower(name), "as ")
			stages = append(stages, dockerStage{Base: base, Name: strings.TrimSpace(name)})
		case len(stages) == 0:
			t.Fatalf("Dockerfile line %d: %s before the first FROM", in.Line, in.Cmd)
		default:
			s := &stages[len(stages)-1]
			s.Instructions = append(s.Instructions, in)
		}
	}
	if joined.Len() > 0 {
		t.Fatal("Dockerfile ends inside a continuation")
	}
	return stages
}

// execForm decodes an exec-form (JSON array) argument list.
func execForm(t testing.TB, in dockerInstruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.Args), &args); err != nil {
		t.Fatalf("Dockerfile line %d: %s is not in exec form (a JSON array): %v", in.Line, in.Cmd, err)
	}
	return args
}

// copyFrom maps the destinations of `COPY --from=<stage>` lines to their
// sources.
func copyFrom(t testing.TB, s dockerStage, stage string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, in := range s.find("COPY") {
		if slices.Contains(in.Flags, "--from="+stage) {
			f := strings.Fields(in.Args)
			if len(f) != 2 {
				t.Fatalf("Dockerfile line %d: COPY with %d paths", in.Line, len(f))
			}
			m[f[1]] = f[0]
		}
	}
	return m
}

// dockerfile is the shipped Dockerfile, parsed: the build stage and the
// final one.
func dockerfile(t testing.TB) (build, final dockerStage) {
	t.Helper()
	stages := parseDockerfile(t, readDeployFile(t, "container", "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and the final image", len(stages))
	}
	return stages[0], stages[1]
}

// TestDeployDockerfile checks the image's shape: a golang:1.26 build
// stage making static, trimmed binaries; a distroless (or scratch) final
// image running as a non-root user; a HEALTHCHECK on the readiness
// endpoint through the probe the build stage makes; the binary as the
// entrypoint, run on /etc/portcullis/Caddyfile.
func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	build, final := dockerfile(t)
	if !strings.HasPrefix(build.Base, "golang:1.26") || build.Name == "" {
		t.Errorf("build stage FROM %s AS %q, want golang:1.26… AS <name>", build.Base, build.Name)
	}
	if final.Base != "gcr.io/distroless/static-debian12:nonroot" && final.Base != "scratch" {
		t.Errorf("final image FROM %s, want distroless static (nonroot) or scratch", final.Base)
	}
	builds := 0
	for _, in := range build.find("RUN") {
		if !strings.Contains(in.Args, "go build") {
			continue
		}
		builds++
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-o /out/"} {
			if !strings.Contains(in.Args, want) {
				t.Errorf("Dockerfile line %d: go build without %s", in.Line, want)
			}
		}
	}
	if builds != 2 {
		t.Errorf("%d go build steps, want 2 (portcullis and the health probe)", builds)
	}

	users := final.find("USER")
	if len(users) != 1 || strings.HasPrefix(users[0].Args, "0") || strings.HasPrefix(users[0].Args, "root") {
		t.Errorf("final image USER %v, want one non-root user", users)
	}
	copied := copyFrom(t, final, build.Name)
	entry := final.find("ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatal("want one ENTRYPOINT")
	}
	if ep := execForm(t, entry[0]); len(ep) != 1 || copied[ep[0]] != "/out/portcullis" {
		t.Errorf("ENTRYPOINT %q is not the portcullis binary from the build stage (copied: %v)", ep, copied)
	}
	cmd := final.find("CMD")
	if len(cmd) != 1 || !hasFlag(execForm(t, cmd[0]), "--config", "/etc/portcullis/Caddyfile") {
		t.Errorf("CMD %v, want run --config /etc/portcullis/Caddyfile", cmd)
	}

	hc := final.find("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("want one HEALTHCHECK, got %d", len(hc))
	}
	probe, found := strings.CutPrefix(hc[0].Args, "CMD ")
	if !found {
		t.Fatalf("HEALTHCHECK %q is not `CMD [...]`", hc[0].Args)
	}
	args := execForm(t, dockerInstruction{Cmd: "HEALTHCHECK", Args: probe, Line: hc[0].Line})
	if len(args) != 2 || copied[args[0]] != "/out/healthprobe" {
		t.Errorf("HEALTHCHECK runs %q, want the health probe from the build stage and a URL (copied: %v)", args, copied)
	}
	expose := final.find("EXPOSE")
	if len(expose) != 1 || len(args) != 2 || args[1] != "http://127.0.0.1:"+expose[0].Args+"/.portcullis/readyz" {
		t.Errorf("HEALTHCHECK URL %q is not the readiness endpoint on the exposed port %v", args, expose)
	}
	env := map[string]string{}
	for _, in := range final.find("ENV") {
		for _, kv := range strings.Fields(in.Args) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	for _, k := range []string{"XDG_DATA_HOME", "XDG_CONFIG_HOME"} {
		if _, ok := copied[env[k]]; !ok {
			t.Errorf("%s=%q is not a directory the image creates for the non-root user", k, env[k])
		}
	}
}

// imageBuild is the build stage's output (see runBuildSteps), made once
// per test binary for every test that needs it.
var imageBuild struct {
	once sync.Once
	dir  string // holds the context copy and the output; removed by TestMain
	out  string
	err  error
	done bool // the build returned (it may have failed a test instead)
}

// imageBuildOutput returns the directory standing for the build stage's
// /out, running the Dockerfile's build steps the first time it is called.
//
// It builds the harness binary first: harness.Binary compiles with the
// image's settings (CGO_ENABLED=0, -trimpath), so the Dockerfile's go
// build step finds every package in the Go build cache and only links.
// Both use the machine's module cache and build cache, as the
// Dockerfile's cache mounts do: nothing is downloaded or compiled twice.
func imageBuildOutput(t testing.TB) string {
	t.Helper()
	harness.Binary(t)
	build, _ := dockerfile(t)
	imageBuild.once.Do(func() {
		imageBuild.out, imageBuild.err = runBuildSteps(t, build)
		imageBuild.done = true
	})
	switch {
	case imageBuild.err != nil:
		t.Fatal(imageBuild.err)
	case !imageBuild.done:
		t.Fatal("the Dockerfile's build steps failed (see the test that ran them first)")
	}
	return imageBuild.out
}

// cleanupImageBuild removes what imageBuildOutput made.
func cleanupImageBuild() {
	if imageBuild.dir != "" {
		os.RemoveAll(imageBuild.dir)
	}
}

// runBuildSteps runs the build stage's RUN steps, in order, as Docker
// would, in a copy of the build context filtered by
// Dockerfile.dockerignore (BuildKit's rules) standing for WORKDIR /src,
// with /out redirected to a directory, which it returns.
func runBuildSteps(t testing.TB, build dockerStage) (string, error) {
	if wd := build.find("WORKDIR"); len(wd) != 1 || wd[0].Args != "/src" {
		return "", fmt.Errorf("build stage WORKDIR %v, want /src (the context root)", wd)
	}
	dir, err := os.MkdirTemp("", "portcullis-image-build-")
	if err != nil {
		return "", err
	}
	imageBuild.dir = dir
	ctxDir, outDir := filepath.Join(dir, "src"), filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return "", err
	}
	if err := copyBuildContext(t, ctxDir); err != nil {
		return "", err
	}
	env := append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, in := range build.find("ENV") {
		env = append(env, strings.Fields(in.Args)...)
	}
	ran := 0
	for _, in := range build.find("RUN") {
		script := strings.ReplaceAll(in.Args, "/out/", outDir+"/")
		script = strings.ReplaceAll(script, "/out ", outDir+" ")
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir, cmd.Env = ctxDir, env
		began := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("Dockerfile line %d: %s: %v\n%s", in.Line, script, err, out)
		}
		t.Logf("Dockerfile line %d ran in %v", in.Line, time.Since(began).Round(time.Millisecond))
		ran++
	}
	if ran == 0 {
		return "", errors.New("the build stage has no RUN step")
	}
	return outDir, nil
}

// healthprobeBinary returns the image's health probe, built by its
// Dockerfile step.
func healthprobeBinary(t testing.TB) string {
	t.Helper()
	return filepath.Join(imageBuildOutput(t), "healthprobe")
}

// copyBuildContext copies the repository into dir as Docker sends it to
// the builder: without what Dockerfile.dockerignore excludes.
func copyBuildContext(t testing.TB, dir string) error {
	t.Helper()
	var patterns []string
	for _, line := range strings.Split(readDeployFile(t, "container", "Dockerfile.dockerignore"), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	root := harness.RepoRoot()
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil || excluded || !d.Type().IsRegular() {
			return err
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// requireStatic fails unless path is an ELF executable with no program
// interpreter and no dynamic section: it runs on distroless static or
// scratch, with no libc.
func requireStatic(t testing.TB, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %s program header: it is dynamically linked", filepath.Base(path), p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", filepath.Base(path), libs)
	}
}

// TestDeployDockerfileBuild runs the Dockerfile's build steps (see
// runBuildSteps and imageBuildOutput), checks that both binaries are static, that the
// image's binary runs (version, our modules), that -trimpath left no
// local path in it, and that the health probe answers 0 only for a 2xx.
func TestDeployDockerfileBuild(t *testing.T) {
	t.Parallel()
	out := imageBuildOutput(t)
	bin, probe := filepath.Join(out, "portcullis"), filepath.Join(out, "healthprobe")
	for _, dir := range []string{"data", "config"} {
		if st, err := os.Stat(filepath.Join(out, dir)); err != nil || !st.IsDir() {
			t.Errorf("the build stage does not make /out/%s for the final image", dir)
		}
	}
	requireStatic(t, bin)
	requireStatic(t, probe)

	version, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(version), "v2.") {
		t.Fatalf("portcullis version: %v\n%s", err, version)
	}
	modules, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil || !strings.Contains(string(modules), "http.handlers.portcullis") {
		t.Fatalf("portcullis list-modules lacks the portcullis handler: %v\n%s", err, modules)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), harness.RepoRoot()) {
		t.Error("the binary contains the build directory's path: -trimpath did not apply")
	}

	var status int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/.portcullis/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		status int
		ok     bool
	}{{200, true}, {204, true}, {503, false}, {302, false}, {404, false}} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		if err := runProbe(probe, srv.URL+"/.portcullis/readyz"); (err == nil) != tc.ok {
			t.Errorf("health probe on a %d answer: %v, want ok=%v", tc.status, err, tc.ok)
		}
	}
	// Nothing listening: unhealthy, exit status 1.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = runProbe(probe, "http://"+addr+"/.portcullis/readyz")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("health probe on a closed port: %v, want exit status 1", err)
	}
}

// runProbe runs the health probe on a URL.
func runProbe(probe, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, probe, url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TestDeployHealthprobeSource keeps the probe's own module formatted and
// vetted (it is a separate module, outside the root's ./...).
func TestDeployHealthprobeSource(t *testing.T) {
	t.Parallel()
	dir := deployPath("container", "healthprobe")
	goBin := filepath.Join(runtime.GOROOT(), "bin")
	out, err := exec.Command(filepath.Join(goBin, "gofmt"), "-l", dir).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("gofmt -l: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(goBin, "go"), "vet", "./...")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go vet in deploy/container/healthprobe: %v\n%s", err, out)
	}
}

// composeDummyPassword stands in for the REDIS_PASSWORD of .env.
const composeDummyPassword = "compose-test-password-0123456789"

// loadCompose loads compose.yaml with the compose specification's own
// loader (schema validation, interpolation, merge keys, path resolution),
// with env as the only variables (as if from .env).
func loadCompose(t testing.TB, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir := deployPath("container")
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("portcullis", true)
		o.ResolvePaths = true
	})
}

// TestDeployCompose checks compose.yaml: two gateway replicas built from
// the Dockerfile with the repository as context, sharing the Redis
// service and proxying to the upstream service that their Caddyfile
// names; each waits for healthy dependencies, probes its readiness
// endpoint, runs read-only without capabilities; REDIS_PASSWORD is
// required. Both mounted Caddyfiles validate with the environment the
// services get.
func TestDeployCompose(t *testing.T) {
	t.Parallel()
	if _, err := loadCompose(t, nil); err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
		t.Errorf("compose.yaml loads without REDIS_PASSWORD (err %v); it must be required", err)
	}
	p, err := loadCompose(t, map[string]string{"REDIS_PASSWORD": composeDummyPassword})
	if err != nil {
		t.Fatalf("loading compose.yaml: %v", err)
	}
	if got, want := sortedKeys(p.Services), []string{"gateway-a", "gateway-b", "redis", "upstream"}; !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	build, final := dockerfile(t)
	root := harness.RepoRoot()
	published := map[string]bool{}
	var upstreamDial string
	for _, name := range []string{"gateway-a", "gateway-b", "upstream"} {
		s := p.Services[name]
		if s.Build == nil || filepath.Clean(s.Build.Context) != root || s.Build.Dockerfile != "deploy/container/Dockerfile" {
			t.Errorf("%s: build %+v, want context the repository root and deploy/container/Dockerfile", name, s.Build)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, cap_drop %v, security_opt %v", name, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		for _, dir := range []string{"/data", "/config"} {
			if !slices.Contains(s.Tmpfs, dir) {
				t.Errorf("%s: no tmpfs on %s (Caddy writes there; the root is read-only)", name, dir)
			}
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) != 3 || s.HealthCheck.Test[0] != "CMD" {
			t.Fatalf("%s: healthcheck %+v, want [CMD probe URL]", name, s.HealthCheck)
		}
		if src := copyFrom(t, final, build.Name)[s.HealthCheck.Test[1]]; src != "/out/healthprobe" {
			t.Errorf("%s: healthcheck runs %s, which the image does not have", name, s.HealthCheck.Test[1])
		}

		// The mounted Caddyfile is the one `command` runs, and it validates.
		config := ""
		if i := slices.Index([]string(s.Command), "--config"); i >= 0 && i+1 < len(s.Command) {
			config = s.Command[i+1]
		}
		var mounted string
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && v.Target == config {
				mounted = v.Source
				if !v.ReadOnly {
					t.Errorf("%s: %s is mounted writable", name, v.Target)
				}
			}
		}
		if mounted == "" {
			t.Fatalf("%s: command reads %q, which no bind mount provides", name, config)
		}
		var env []string
		for k, v := range s.Environment {
			if v != nil {
				env = append(env, k+"="+*v)
			}
		}
		validateCaddyfile(t, mounted, env)
		cfg := adaptCaddyfile(t, mounted, env)
		probeURL := s.HealthCheck.Test[2]

		if name == "upstream" {
			if got := cfg.listenPorts(); !slices.Equal(got, []string{"9000"}) {
				t.Errorf("upstream listens on %v", got)
			}
			if probeURL != "http://127.0.0.1:9000/" {
				t.Errorf("upstream healthcheck %s", probeURL)
			}
			continue
		}
		if probeURL != "http://127.0.0.1:8080/.portcullis/readyz" {
			t.Errorf("%s: healthcheck URL %s, want the readiness endpoint on 8080", name, probeURL)
		}
		if !portcullisOnEveryPath(t, cfg.serverOn(t, "8080")) {
			t.Errorf("%s: the server on 8080 does not send every path through portcullis; the probes would miss it", name)
		}
		if s.Environment["REDIS_PASSWORD"] == nil || *s.Environment["REDIS_PASSWORD"] != composeDummyPassword {
			t.Errorf("%s: REDIS_PASSWORD not passed from .env", name)
		}
		if filepath.Base(mounted) != "Caddyfile" {
			t.Errorf("%s mounts %s, want deploy/container/Caddyfile", name, mounted)
		}
		for _, dep := range []string{"redis", "upstream"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s = %+v, want condition service_healthy", name, dep, d)
			}
		}
		for _, h := range cfg.storeHosts(t) {
			if h != "redis:6379" {
				t.Errorf("%s: store at %s, want the redis service", name, h)
			}
		}
		dials := cfg.reverseProxyDials()
		if len(dials) != 1 {
			t.Fatalf("%s: reverse_proxy dials %v, want one upstream", name, dials)
		}
		upstreamDial = dials[0]
		if len(s.Ports) != 1 || s.Ports[0].Target != 8080 || s.Ports[0].HostIP != "127.0.0.1" || published[s.Ports[0].Published] {
			t.Errorf("%s: ports %+v, want one distinct 127.0.0.1:<port>:8080", name, s.Ports)
		} else {
			published[s.Ports[0].Published] = true
		}
	}
	if upstreamDial != "upstream:9000" {
		t.Errorf("the gateways proxy to %q, want the upstream service on its port 9000", upstreamDial)
	}

	r := p.Services["redis"]
	if !strings.HasPrefix(r.Image, "redis:") || r.HealthCheck == nil || len(r.HealthCheck.Test) == 0 {
		t.Errorf("redis: image %q, healthcheck %+v", r.Image, r.HealthCheck)
	}
	if !hasFlag(r.Command, "--requirepass", composeDummyPassword) {
		t.Errorf("redis: command %q does not set the password from .env", r.Command)
	}
	if a := r.Environment["REDISCLI_AUTH"]; a == nil || *a != composeDummyPassword {
		t.Error("redis: the healthcheck's redis-cli has no password (REDISCLI_AUTH)")
	}
}
