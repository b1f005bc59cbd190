package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 3: the configurations the documentation teaches must protect the
// collection (`/orders`, `POST /orders`) as written, and `validate` must
// warn about a `/x/*` matcher that leaves `/x` open.

var (
	caddyfileBlock = regexp.MustCompile("(?s)```caddyfile\n(.*?)```")
	siteAddress    = regexp.MustCompile(`(?m)^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d+)? \{$`)
	envPlaceholder = regexp.MustCompile(`\{env\.([A-Z0-9_]+)\}`)
	keyBlock       = regexp.MustCompile(`(?s)\n[ \t]*key \S+ \{.*?\n[ \t]*\}`)
	redisOrPepper  = regexp.MustCompile(`(?m)^[ \t]*(store redis|pepper ).*$`)
	proxyLine      = regexp.MustCompile(`(?m)reverse_proxy \S+`)
)

// runnableDoc turns a documented Caddyfile into one that runs here, with
// the fewest changes: the test's admin line and auto_https off added,
// site addresses served on plain HTTP on loopback (same host names), the
// upstream replaced by the recorder, Redis dropped (in-memory store), the
// placeholder key replaced by the test's key (its pepper dropped, so the
// test's plain hash applies). Every rule is kept as written.
func runnableDoc(doc, up, key string) (harness.Caddyfile, []string, []string) {
	var hosts, env []string
	for _, m := range siteAddress.FindAllStringSubmatch(doc, -1) {
		hosts = append(hosts, m[1])
	}
	for _, m := range envPlaceholder.FindAllStringSubmatch(doc, -1) {
		env = append(env, m[1]+"=doc-test-secret-0123456789abcdef-0123456789")
	}
	return func(p harness.Ports) string {
		c := redisOrPepper.ReplaceAllString(doc, "")
		c = keyBlock.ReplaceAllLiteralString(c, "\n"+key)
		c = proxyLine.ReplaceAllLiteralString(c, "reverse_proxy "+up)
		c = siteAddress.ReplaceAllString(c, fmt.Sprintf("http://$1:%d {\n\tbind 127.0.0.1", p.HTTP))
		if strings.HasPrefix(strings.TrimSpace(c), "{") {
			return strings.Replace(c, "{", "{\n\t"+p.Global(), 1)
		}
		return "{\n\t" + p.Global() + "\n}\n" + c
	}, hosts, env
}

// docCase is a request against a documented configuration; key is "" or
// the orders:read key.
type docCase struct {
	name, method, target string
	withKey              bool
	want                 int
}

var docCases = []docCase{
	{"collection_get", "GET", "/orders", false, 401},
	{"collection_post", "POST", "/orders", false, 401},
	{"collection_trailing_slash", "GET", "/orders/", false, 401},
	{"collection_query", "GET", "/orders?status=open", false, 401},
	{"collection_format_suffix", "GET", "/orders.json", false, 401},
	{"item_get", "GET", "/orders/1", false, 401},
	{"collection_post_read_key", "POST", "/orders", true, 403},
	{"item_patch_read_key", "PATCH", "/orders/1", true, 403},
	{"item_put_read_key", "PUT", "/orders/1", true, 403},
	{"item_delete_read_key", "DELETE", "/orders/1", true, 403},
	{"item_get_read_key", "GET", "/orders/1", true, 200},
	{"collection_get_read_key", "GET", "/orders", true, 200},
}

func hardenDocs(t *testing.T) {
	key, block := newKey(t, "--subject", "doc-reader", "--scopes", "orders:read")
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range caddyfileBlock.FindAllStringSubmatch(string(readme), -1) {
		if !strings.Contains(m[1], "reverse_proxy") || !siteAddress.MatchString(m[1]) {
			continue
		}
		n++
		t.Run(fmt.Sprintf("readme_block_%d", n), func(t *testing.T) {
			up := startRecorder(t)
			conf, hosts, env := runnableDoc(m[1], up.Addr, block)
			gw := harness.StartGateway(t, conf, env...)
			host := hosts[0] + ":" + strconv.Itoa(gw.Ports.HTTP)
			// A block without API keys (single sign-on only) must still
			// refuse every request without credentials; the key cases
			// apply to blocks that declare keys.
			withKeys := keyBlock.MatchString(m[1])
			runDocCases(t, fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP), host, key, withKeys, func(tag string) bool { return len(up.tagged(tag)) > 0 })
		})
	}
	if n == 0 {
		t.Fatal("README.md has no runnable caddyfile example")
	}
	t.Run("caddyfile_example", func(t *testing.T) { hardenCaddyfileExample(t) })
	t.Run("docs_teach_no_collection_matcher", checkDocsMatchers)
	t.Run("validate_warns", checkValidateWarns)
}

func runDocCases(t *testing.T, addr, host, key string, withKeys bool, reached func(tag string) bool) {
	for _, c := range docCases {
		if c.withKey && !withKeys {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			tag := newTag(c.name)
			h := hdrs(caseHeader, tag)
			if c.withKey {
				h = append(h, [2]string{"Authorization", "Bearer " + key})
			}
			body := ""
			if c.method != "GET" {
				h = append(h, [2]string{"Content-Type", "application/json"})
				body = "{}"
			}
			resp := rawSend(t, addr, rawReq{method: c.method, target: c.target, host: host, headers: h, body: body}.String())
			if c.want == 200 {
				if resp.Status != 200 || !reached(tag) {
					t.Errorf("%s %s with the key: %d, reached the upstream: %v", c.method, c.target, resp.Status, reached(tag))
				}
				return
			}
			checkRefusal(t, resp, c.want)
			if reached(tag) {
				t.Errorf("%s %s reached the upstream (answer %d)", c.method, c.target, resp.Status)
			}
		})
	}
}

// hardenCaddyfileExample runs Caddyfile.example exactly as shipped; its
// demo upstream echoes what it received, so an echo in the answer means
// the request reached it.
func hardenCaddyfileExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`pcl_\w+`).FindString(string(example))
	echo := harness.FreePort(t)
	answers := map[string]string{}
	gw := harness.Start(t, harness.Options{
		Caddyfile: func(harness.Ports) string { return string(example) },
		Env: func(p harness.Ports) []string {
			return []string{fmt.Sprintf("PORTCULLIS_PORT=%d", p.HTTP), fmt.Sprintf("PORTCULLIS_ADMIN_PORT=%d", p.Admin),
				fmt.Sprintf("DEMO_UPSTREAM_PORT=%d", echo)}
		},
	})
	addr := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	// The demo upstream echoes the request headers, the case tag among them.
	reached := func(tag string) bool { return strings.Contains(answers[tag], tag) }
	for _, c := range docCases {
		tag := newTag(c.name)
		h := hdrs(caseHeader, tag)
		if c.withKey {
			h = append(h, [2]string{"Authorization", "Bearer " + key})
		}
		resp := rawSend(t, addr, rawReq{method: c.method, target: c.target, host: addr, headers: h}.String())
		answers[tag] = resp.Body
		t.Run(c.name, func(t *testing.T) {
			if c.want == 200 {
				if resp.Status != 200 || !reached(tag) {
					t.Errorf("%s %s with the demo key: %d %.200s", c.method, c.target, resp.Status, resp.Body)
				}
				return
			}
			checkRefusal(t, resp, c.want)
			if reached(tag) {
				t.Errorf("%s %s reached the demo upstream", c.method, c.target)
			}
		})
	}
}

// checkDocsMatchers: no documented configuration (a Caddyfile, or a
// fenced code block of the guides) protects a collection with a bare
// `/x/*` matcher (the endpoints' /.portcullis/* aside); prose that warns
// about the pattern is fine.
func checkDocsMatchers(t *testing.T) {
	bare := regexp.MustCompile(`^\s*portcullis (/[^\s*]+)/\* \{`)
	for _, rel := range []string{"README.md", "Caddyfile.example", "deploy/README.md"} {
		b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), rel))
		if err != nil {
			t.Fatal(err)
		}
		inCode := !strings.HasSuffix(rel, ".md")
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") && strings.HasSuffix(rel, ".md") {
				inCode = !inCode
				continue
			}
			if m := bare.FindStringSubmatch(line); inCode && m != nil && m[1] != "/.portcullis" {
				t.Errorf("%s:%d teaches %q, which leaves %s (and POST %s) open", rel, i+1, strings.TrimSpace(line), m[1], m[1])
			}
		}
	}
}

// checkValidateWarns: validate and adapt warn, with the line, about a
// matcher that leaves the collection uncovered; a whole-site route gets
// no such warning.
func checkValidateWarns(t *testing.T) {
	_, block := newKey(t, "--subject", "doc-validate", "--scopes", "orders:read")
	write := func(site string) string {
		f := filepath.Join(t.TempDir(), "Caddyfile")
		conf := "{\n\tadmin off\n\tauto_https off\n\tportcullis {\n\t\tapi_keys {\n\t\t\t" + block + "\n\t\t}\n\t}\n}\n\nhttp://127.0.0.1:8080 {\n" + site + "\treverse_proxy 127.0.0.1:9\n}\n"
		if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	lineOf := func(f, needle string) int {
		b, _ := os.ReadFile(f)
		for i, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
		return 0
	}
	open := write("\tportcullis /orders/* {\n\t\trequire orders:read\n\t}\n")
	whole := write("\tportcullis {\n\t\trequire orders:read\n\t}\n")
	for _, cmd := range []string{"validate", "adapt"} {
		t.Run(cmd+"_collection_matcher", func(t *testing.T) {
			out, err := harness.Run(t, nil, cmd, "--config", open, "--adapter", "caddyfile")
			line := fmt.Sprintf(":%d", lineOf(open, "portcullis /orders/*"))
			if err != nil {
				t.Fatalf("%s refused a valid configuration: %v\n%s", cmd, err, out)
			}
			if warning(out, "/orders") == "" || !strings.Contains(warning(out, "/orders"), line) {
				t.Errorf("%s gives no warning naming /orders at line %s:\n%s", cmd, line, out)
			}
		})
		t.Run(cmd+"_whole_site_no_warning", func(t *testing.T) {
			out, err := harness.Run(t, nil, cmd, "--config", whole, "--adapter", "caddyfile")
			if w := warning(out, "portcullis"); err != nil || w != "" {
				t.Errorf("%s on a whole-site route: %v\n%s", cmd, err, out)
			}
		})
	}
}

// warning returns the first output line that is a warning mentioning s.
func warning(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(strings.ToLower(l), "warn") && strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
