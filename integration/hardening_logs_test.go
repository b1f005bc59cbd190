package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Class 8: no credential the gateway accepts appears in any log it or
// Caddy writes, under ordinary logging configurations (site `log` to
// stdout, stderr and files, json and console, debug level), and API keys
// are not read from X-API-Key unless the configuration opts in.

// logsGateway serves the same protected route on four sites with four
// access-log configurations; debug adds Caddy's debug level, and an
// explicit `header X-API-Key` in api_keys.
func logsGateway(up, keys, issuer, dir string, debug bool) harness.Caddyfile {
	extra, header := "", ""
	if debug {
		extra, header = "debug", "header X-API-Key"
	}
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[1]s
	%[2]s
	log audit {
		include portcullis.audit
		output file %[3]s/audit.log
		format json
	}
	portcullis {
		api_keys {
			%[4]s
			%[5]s
		}
		jwt %[6]s {
			audience %[7]s
		}
	}
}

(protect) {
	bind 127.0.0.1
	portcullis {
		require orders:read
	}
	reverse_proxy %[8]s
}

http://json.test:%[9]d {
	log {
		output stdout
		format json
	}
	import protect
}

http://console.test:%[9]d {
	log {
		output file %[3]s/console.log
		format console
	}
	import protect
}

http://file.test:%[9]d {
	log {
		output file %[3]s/access.log
	}
	import protect
}

http://default.test:%[9]d {
	log
	import protect
}
`, p.Global(), extra, dir, header, keys, issuer, issuersAudience, up, p.HTTP)
	}
}

var logSites = []string{"json.test", "console.test", "file.test", "default.test"}

func hardenLogs(t *testing.T) {
	good, gblock := newKey(t, "--subject", "log-reader", "--scopes", "orders:read")
	xkey, xblock := newKey(t, "--subject", "log-x-api-key", "--scopes", "orders:read")
	idp := oidcprovider.Start(t)
	jwtGood := signedBy(t, idp, nil)
	jwtExpired := signedBy(t, idp, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	parts := strings.Split(jwtGood, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	jwtForged := parts[0] + "." + parts[1] + "." + string(sig)
	wrong := good[:len(good)-6] + "ZZZZZZ"
	if wrong == good {
		wrong = good[:len(good)-6] + "YYYYYY"
	}
	secrets := map[string]string{
		"key": good, "key_secret_part": good[17:], "wrong_key": wrong, "wrong_key_secret_part": wrong[17:],
		"jwt": jwtGood, "jwt_signature": parts[2], "expired_jwt": jwtExpired, "expired_jwt_signature": strings.Split(jwtExpired, ".")[2],
		"forged_jwt": jwtForged, "forged_jwt_signature": strings.Split(jwtForged, ".")[2],
	}
	up := startRecorder(t)
	for _, debug := range []bool{false, true} {
		name := map[bool]string{false: "info", true: "debug"}[debug]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			gw := harness.StartGateway(t, logsGateway(up.Addr, gblock+"\n"+xblock, idp.Issuer(), dir, debug))
			addr := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
			last := map[string]string{}
			for _, site := range logSites {
				host := fmt.Sprintf("%s:%d", site, gw.Ports.HTTP)
				for _, cred := range []string{good, wrong, jwtGood, jwtExpired, jwtForged} {
					for _, h := range [][2]string{{"Authorization", "Bearer " + cred}, {"authorization", "bearer  " + cred}} {
						tag := newTag("log")
						rawSend(t, addr, rawReq{method: "GET", target: "/orders/1", host: host, headers: hdrs(h[0], h[1], caseHeader, tag)}.String())
					}
				}
				last[site] = newTag("log")
				rawSend(t, addr, rawReq{method: "POST", target: "/orders/1?x=1", host: host, headers: hdrs("Authorization", "Bearer "+good, caseHeader, last[site], "Content-Type", "application/json"), body: "{}"}.String())
			}
			logs := waitLogs(t, gw, dir, last)
			for secret, v := range secrets {
				t.Run(secret+"_not_logged", func(t *testing.T) {
					for where, text := range logs {
						if strings.Contains(text, v) {
							i := strings.Index(text, v)
							t.Errorf("%s contains the %s: …%s…", where, secret, text[max(0, i-200):i])
						}
					}
				})
			}
			t.Run("x_api_key", func(t *testing.T) {
				tag := newTag("x-api-key")
				resp := rawSend(t, addr, rawReq{method: "GET", target: "/orders/1", host: "json.test:" + fmt.Sprint(gw.Ports.HTTP),
					headers: hdrs("X-API-Key", xkey, caseHeader, tag)}.String())
				if !debug { // not configured: not read (refused, or treated as no credential)
					checkRefusal(t, resp, anyRefusal)
					checkNotForwarded(t, up, tag)
					return
				}
				if resp.Status != 200 { // `header X-API-Key` opts in
					t.Errorf("with api_keys { header X-API-Key }: %d %.200s", resp.Status, resp.Body)
				}
			})
		})
	}
}

// waitLogs waits until every access log holds the last request sent to
// its site and returns every log the gateway wrote, by where it was
// written.
func waitLogs(t *testing.T, gw *harness.Gateway, dir string, last map[string]string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		logs := map[string]string{"stdout+stderr": gw.Logs()}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			logs[e.Name()] = string(b)
		}
		out := logs["stdout+stderr"]
		complete := strings.Contains(logs["console.log"], last["console.test"]) && strings.Contains(logs["access.log"], last["file.test"]) &&
			strings.Contains(out, last["json.test"]) && strings.Contains(out, last["default.test"]) && strings.Contains(logs["audit.log"], "decision")
		if complete {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logs never showed the last requests (%v); logs: %v", last, logSizes(logs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logSizes(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s (%d bytes)", k, len(v)))
	}
	return out
}
