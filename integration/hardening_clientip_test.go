package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 7: behind a proxy that appends to X-Forwarded-For, the client
// must not choose its own address for rate limits, the key-guessing
// budget or the audit; every deploy example that trusts proxies is
// strict. Clients are played from distinct loopback addresses
// (127.0.0.9 …), the front proxy (a second portcullis binary running a
// plain reverse_proxy, appending as nginx's $proxy_add_x_forwarded_for
// does) from 127.0.0.1, the only address the gateway trusts.

func clientIPGateway(up, keyBlock, auditFile string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	servers {
		trusted_proxies static 127.0.0.1/32
		trusted_proxies_strict
		client_ip_headers X-Forwarded-For
	}
	log audit {
		include portcullis.audit
		output file %s
		format json
	}
	portcullis {
		api_keys {
			%s
		}
		rate_limit per_ip 2/1m burst 2
	}
}

http://127.0.0.1:%d {
	portcullis_guard
	handle /limited/* {
		portcullis {
			allow_anonymous /limited/*
			rate_limit per_ip
		}
		reverse_proxy %s
	}
	handle {
		portcullis {
			require orders:read
		}
		reverse_proxy %s
	}
}
`, p.Global(), auditFile, keyBlock, p.HTTP, up, up)
	}
}

// frontProxy trusts its clients' X-Forwarded-For and so appends the
// client's address to it.
func frontProxy(gatewayPort int) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	servers {
		trusted_proxies static 127.0.0.0/8
	}
}

http://127.0.0.1:%d {
	reverse_proxy 127.0.0.1:%d
}
`, p.Global(), p.HTTP, gatewayPort)
	}
}

func hardenClientIP(t *testing.T) {
	t.Run("deploy_examples_strict", checkDeployStrict)
	key, block := newKey(t, "--subject", "ip-reader", "--scopes", "orders:read")
	up := startRecorder(t)
	audit := filepath.Join(t.TempDir(), "audit.log")
	gw := harness.StartGateway(t, clientIPGateway(up.Addr, block, audit))
	front := harness.StartGateway(t, frontProxy(gw.Ports.HTTP))
	gwAddr, frontAddr := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP), fmt.Sprintf("127.0.0.1:%d", front.Ports.HTTP)
	send := func(t *testing.T, from, addr, target string, h [][2]string) rawResp {
		return rawSendFrom(t, from, addr, rawReq{method: "GET", target: target, host: addr, headers: h}.String())
	}
	auditIP := func(t *testing.T, from, addr string, h [][2]string) {
		resp := send(t, from, addr, "/orders/1", append(h, [2]string{"Authorization", "Bearer " + key}))
		if resp.Status != 200 {
			t.Fatalf("status %d %.200s", resp.Status, resp.Body)
		}
		if ip := auditClientIP(t, audit, resp.Header.Get("X-Request-Id")); ip != from {
			t.Errorf("the audit records client_ip %q, want the real client %s", ip, from)
		}
	}
	t.Run("audit_spoofed_xff_via_front", func(t *testing.T) { auditIP(t, "127.0.0.9", frontAddr, hdrs("X-Forwarded-For", "203.0.113.7")) })
	t.Run("audit_spoofed_xff_list_via_front", func(t *testing.T) {
		auditIP(t, "127.0.0.9", frontAddr, hdrs("X-Forwarded-For", "203.0.113.7, 198.51.100.1", "X-Forwarded-For", "192.0.2.1"))
	})
	t.Run("audit_spoofed_trusted_address_via_front", func(t *testing.T) { auditIP(t, "127.0.0.9", frontAddr, hdrs("X-Forwarded-For", "127.0.0.1")) })
	t.Run("audit_other_ip_headers_via_front", func(t *testing.T) {
		auditIP(t, "127.0.0.14", frontAddr, hdrs("X-Real-IP", "203.0.113.8", "Forwarded", "for=203.0.113.8", "True-Client-IP", "203.0.113.8",
			"CF-Connecting-IP", "203.0.113.8", "X-Client-IP", "203.0.113.8"))
	})
	t.Run("audit_direct_untrusted_xff", func(t *testing.T) { auditIP(t, "127.0.0.13", gwAddr, hdrs("X-Forwarded-For", "203.0.113.9")) })
	t.Run("request_id_from_untrusted_client", func(t *testing.T) {
		tag := newTag("request-id")
		resp := send(t, "127.0.0.13", gwAddr, "/orders/1", hdrs("Authorization", "Bearer "+key, "X-Request-Id", "forged-id", caseHeader, tag))
		g, ok := forwardedOnce(t, up, tag, resp)
		if resp.Header.Get("X-Request-Id") == "forged-id" || (ok && g.Header.Get("X-Request-Id") == "forged-id") {
			t.Error("a request id from an untrusted client was taken")
		}
	})
	t.Run("rate_limit_rotating_xff_via_front", func(t *testing.T) {
		var statuses []int
		for i := range 8 {
			tag := newTag("rate-limit")
			resp := send(t, "127.0.0.10", frontAddr, "/limited/x", hdrs("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 10+i), caseHeader, tag))
			statuses = append(statuses, resp.Status)
			if resp.Status == 429 {
				checkRefusal(t, resp, 429)
				checkNotForwarded(t, up, tag)
			}
		}
		if !containsStatus(statuses, 429) {
			t.Errorf("8 anonymous requests in a row (limit 2/1m burst 2), each with its own X-Forwarded-For: %v, never 429", statuses)
		}
	})
	t.Run("key_guessing_rotating_xff_via_front", func(t *testing.T) {
		var statuses []int
		for i := range 25 {
			wrong := fmt.Sprintf("pcl_%012d_%038d", i, i)
			resp := send(t, "127.0.0.11", frontAddr, "/orders/1", hdrs("Authorization", "Bearer "+wrong, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)))
			statuses = append(statuses, resp.Status)
		}
		if !containsStatus(statuses, 429) {
			t.Errorf("25 wrong keys from one client, each with its own X-Forwarded-For: %v, never 429", statuses)
		}
		// Another client is not throttled for it.
		if resp := send(t, "127.0.0.12", frontAddr, "/orders/1", hdrs("Authorization", "Bearer "+key)); resp.Status != 200 {
			t.Errorf("another client's valid key: %d", resp.Status)
		}
	})
}

func containsStatus(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// auditClientIP waits for the decision event of a request id and returns
// its client_ip.
func auditClientIP(t *testing.T, file, id string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if f, err := os.Open(file); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var e map[string]any
				if json.Unmarshal(sc.Bytes(), &e) == nil && e["request_id"] == id && e["event"] == "decision" {
					f.Close()
					ip, _ := e["client_ip"].(string)
					return ip
				}
			}
			f.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no audit decision for request id %q", id)
	return ""
}

// checkDeployStrict: every deploy file that sets trusted_proxies also
// sets trusted_proxies_strict, and the operator's guide says why.
func checkDeployStrict(t *testing.T) {
	root := filepath.Join(harness.RepoRoot(), "deploy")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "trusted_proxies ") {
			return err
		}
		rel, _ := filepath.Rel(harness.RepoRoot(), p)
		if strings.HasSuffix(rel, ".md") {
			return nil
		}
		n++
		t.Run(strings.NewReplacer("/", "_", ".", "_").Replace(rel), func(t *testing.T) {
			for i, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 0 && f[0] == "trusted_proxies" && !strings.Contains(string(b), "trusted_proxies_strict") {
					t.Errorf("%s:%d trusts proxies without trusted_proxies_strict: %s", rel, i+1, strings.TrimSpace(l))
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Log("no deploy file trusts proxies")
	}
	t.Run("guide_explains_strict", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(root, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "trusted_proxies") && !strings.Contains(string(b), "trusted_proxies_strict") {
			t.Error("deploy/README.md talks about trusted_proxies without trusted_proxies_strict")
		}
	})
}
