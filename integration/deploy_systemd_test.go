package integration_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// unitFile is a parsed systemd unit: section → directive → values, in
// file order (a directive may be given several times).
type unitFile map[string]map[string][]string

// parseUnit reads a unit file: comments, blank lines and backslash
// continuations as systemd reads them.
func parseUnit(t testing.TB, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	var pending string
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("unit line %d is not a directive in a section: %q", n, line)
		}
		u[section][key] = append(u[section][key], value)
	}
	return u
}

// one returns the single value of a directive, failing unless there is
// exactly one.
func (u unitFile) one(t testing.TB, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s is given %d times, want once: %q", section, key, len(v), v)
	}
	return v[0]
}

// words returns every word of every value of a directive.
func (u unitFile) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// credentialDirDefault is the fallback of $CREDENTIALS_DIRECTORY in the
// systemd Caddyfile: where systemd puts the unit's credentials.
const credentialDirDefault = "/run/credentials/portcullis.service"

// TestDeploySystemdUnit checks the hardening of the unit directive by
// directive, that the unit and the Caddyfile agree (credentials, admin
// socket, state directory), and, where systemd-analyze is installed, that
// systemd itself accepts the unit without a warning and rates its
// exposure as low.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	text := readDeployFile(t, "systemd", "portcullis.service")
	u := parseUnit(t, text)

	want := map[string]string{
		"Type":                    "notify",
		"DynamicUser":             "yes",
		"User":                    "portcullis",
		"Group":                   "portcullis",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"StateDirectory":          "portcullis",
		"RuntimeDirectory":        "portcullis",
		"ConfigurationDirectory":  "portcullis",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"EnvironmentFile":         "/etc/portcullis/portcullis.env",
		"UMask":                   "0077",
	}
	for _, key := range sortedKeys(want) {
		if got := u.one(t, "Service", key); got != want[key] {
			t.Errorf("[Service] %s=%s, want %s", key, got, want[key])
		}
	}
	if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s, want multi-user.target", got)
	}
	for _, f := range u.words("Service", "RestrictAddressFamilies") {
		if !slices.Contains([]string{"AF_UNIX", "AF_INET", "AF_INET6"}, f) {
			t.Errorf("RestrictAddressFamilies allows %s", f)
		}
	}
	if len(u.words("Service", "RestrictAddressFamilies")) == 0 {
		t.Error("RestrictAddressFamilies is missing")
	}
	filters := u[("Service")]["SystemCallFilter"]
	if len(filters) == 0 || filters[0] != "@system-service" {
		t.Errorf("SystemCallFilter must start with the @system-service allow list, got %q", filters)
	}

	// The binary, the config path and the reload command.
	const config = "/etc/portcullis/Caddyfile"
	start := strings.Fields(u.one(t, "Service", "ExecStart"))
	if len(start) < 2 || start[0] != "/usr/bin/portcullis" || start[1] != "run" || !hasFlag(start, "--config", config) {
		t.Errorf("ExecStart=%q, want /usr/bin/portcullis run --config %s", start, config)
	}
	if slices.Contains(start, "--environ") {
		t.Error("ExecStart prints the environment (--environ) into the journal")
	}
	reload := strings.Fields(u.one(t, "Service", "ExecReload"))
	if len(reload) < 2 || reload[0] != "/usr/bin/portcullis" || reload[1] != "reload" || !hasFlag(reload, "--config", config) || !slices.Contains(reload, "--force") {
		t.Errorf("ExecReload=%q, want /usr/bin/portcullis reload --config %s --force", reload, config)
	}

	// Caddy's data and autosave go to the state directory.
	env := u.words("Service", "Environment")
	for _, v := range []string{"XDG_DATA_HOME=/var/lib/portcullis", "XDG_CONFIG_HOME=/var/lib/portcullis"} {
		if !slices.Contains(env, v) {
			t.Errorf("Environment= lacks %s (Caddy would write outside its state directory)", v)
		}
	}

	// Credentials: the unit loads exactly the ones the Caddyfile reads.
	caddyfile := stripComments(readDeployFile(t, "systemd", "Caddyfile"))
	loaded := map[string]bool{}
	for _, v := range u[("Service")]["LoadCredential"] {
		name, src, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(src, "/etc/portcullis/credentials/") {
			t.Errorf("LoadCredential=%s: want name:/etc/portcullis/credentials/<file>", v)
		}
		loaded[name] = true
	}
	read := map[string]bool{}
	for _, p := range filePlaceholders(strings.ReplaceAll(caddyfile, "{$CREDENTIALS_DIRECTORY:"+credentialDirDefault+"}", credentialDirDefault)) {
		dir, name := filepath.Split(p)
		if filepath.Clean(dir) != credentialDirDefault {
			t.Errorf("the Caddyfile reads {file.%s}, outside the credentials directory", p)
		}
		read[name] = true
	}
	if got, want := sortedKeys(loaded), sortedKeys(read); !slices.Equal(got, want) {
		t.Errorf("the unit loads credentials %v, the Caddyfile reads %v", got, want)
	}
	for _, name := range []string{"session_keys", "oidc_client_secret", "api_key_pepper", "redis_password"} {
		if !loaded[name] {
			t.Errorf("credential %s is not loaded", name)
		}
	}

	// The admin socket lives in the runtime directory, so reload reaches
	// it and other users do not.
	if !strings.Contains(caddyfile, "admin unix//run/portcullis/") {
		t.Error("the systemd Caddyfile's admin API is not a Unix socket in /run/portcullis (RuntimeDirectory)")
	}

	systemdAnalyze(t, text)
}

// hasFlag reports whether args contain flag followed by value.
func hasFlag(args []string, flag, value string) bool {
	i := slices.Index(args, flag)
	return i >= 0 && i+1 < len(args) && args[i+1] == value
}

// systemdAnalyze runs `systemd-analyze verify` (no output allowed:
// systemd only warns about unknown or misspelled directives) and
// `systemd-analyze security --offline` with a threshold on a copy of the
// unit whose binary path points at the built binary (verify checks that
// the executable exists).
func systemdAnalyze(t *testing.T, unit string) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// Not a skip: the parsed checks above ran. Debian's systemd
		// package provides it.
		t.Log("systemd-analyze is not installed: the unit was checked by parsing only")
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "portcullis.service")
	copyText := replaceAll(t, unit, "/usr/bin/portcullis ", harness.Binary(t)+" ")
	if err := os.WriteFile(path, []byte(copyText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure is 0 (locked down) to 10 (unprotected); the unit rates
	// about 1.4. A threshold of 2.0 catches a dropped protection.
	out, err = exec.Command(tool, "security", "--offline=yes", "--threshold=20", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(string(out)); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}

// envFile parses KEY=VALUE lines, skipping comments and blank lines.
func envFile(t testing.TB, text string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env file line %q is not KEY=VALUE", line)
		}
		vars[k] = v
	}
	return vars
}

// TestDeploySystemdCaddyfile validates the systemd Caddyfile as the unit
// runs it: settings from portcullis.env.example and nothing else, secrets
// from a credentials directory named by $CREDENTIALS_DIRECTORY. It also
// checks that the env file sets exactly the variables the Caddyfile uses,
// and that a missing credential, or a missing $CREDENTIALS_DIRECTORY
// (then the usual location is read), is an error that names the file.
func TestDeploySystemdCaddyfile(t *testing.T) {
	t.Parallel()
	caddyfile := deployPath("systemd", "Caddyfile")
	text := stripComments(readDeployFile(t, "systemd", "Caddyfile"))
	vars := envFile(t, readDeployFile(t, "systemd", "portcullis.env.example"))

	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{\$([A-Z0-9_]+)(?::[^}]*)?\}`).FindAllStringSubmatch(text, -1) {
		if m[1] != "CREDENTIALS_DIRECTORY" {
			used[m[1]] = true
		}
	}
	if got, want := sortedKeys(vars), sortedKeys(used); !slices.Equal(got, want) {
		t.Errorf("portcullis.env.example sets %v; the Caddyfile uses %v", got, want)
	}
	for k, v := range vars {
		if strings.Contains(strings.ToLower(k), "secret") || strings.Contains(strings.ToLower(k), "password") {
			t.Errorf("portcullis.env.example holds a secret (%s=%s): secrets are credentials", k, v)
		}
	}

	creds := t.TempDir()
	writeFiles(t, creds, map[string]string{
		"session_keys":       randomSecret(t) + "\n" + randomSecret(t) + "\n",
		"oidc_client_secret": randomSecret(t) + "\n",
		"api_key_pepper":     randomSecret(t) + "\n",
		"redis_password":     randomSecret(t) + "\n",
	})
	env := []string{"CREDENTIALS_DIRECTORY=" + creds}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	validateCaddyfile(t, caddyfile, env)

	// The adapted config uses the credentials directory it was given and
	// the settings from the env file.
	cfg := adaptCaddyfile(t, caddyfile, env)
	if cfg.Admin.Listen != "unix//run/portcullis/admin.sock" {
		t.Errorf("admin listen = %q", cfg.Admin.Listen)
	}
	if s := cfg.Apps.Portcullis.Store; s == nil || s.URL != vars["PORTCULLIS_REDIS_URL"] || s.Password != "{file."+creds+"/redis_password}" {
		t.Errorf("store = %+v", s)
	}
	if !strings.Contains(cfg.raw, `"redirect_url":"https://`+vars["PORTCULLIS_HOST"]+`/.portcullis/callback"`) {
		t.Error("the OIDC redirect_url is not https://$PORTCULLIS_HOST/.portcullis/callback")
	}

	t.Run("missing credential", func(t *testing.T) {
		if err := os.Remove(filepath.Join(creds, "api_key_pepper")); err != nil {
			t.Fatal(err)
		}
		refuseCaddyfile(t, caddyfile, env, "{file."+creds+"/api_key_pepper} is empty")
	})
	t.Run("no credentials directory", func(t *testing.T) {
		env := env[1:] // without CREDENTIALS_DIRECTORY
		refuseCaddyfile(t, caddyfile, env, credentialDirDefault+"/")
	})
}
