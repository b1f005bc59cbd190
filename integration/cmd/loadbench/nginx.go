package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// nginxBinary is Debian's nginx, which the nginx rows run.
const nginxBinary = "/usr/sbin/nginx"

// The rows with nginx in front: nginx alone proxying to the upstream
// (what a team keeps when it cannot replace its ingress), and nginx
// asking a gateway about every request with auth_request
// (deploy/forward-auth/nginx.conf, as shipped). Both processes' CPU
// counts in the forward-auth row.
var nginxScenarios = []scenario{
	{
		name:       "nginx",
		front:      nginxAlone,
		load:       func(url string, env *benchEnv) load { return load{url: url} },
		wantStatus: 200,
	},
	{
		name: "nginx+forward-auth",
		site: func(port int, env *benchEnv) string {
			return fmt.Sprintf("{\n\t%s\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\ttrusted_proxies_strict\n\t}\n\tportcullis {\n\t\tapi_keys {\n\t\t\t%s\n\t\t}\n\t}\n}\n\nhttp://:%d {\n\tportcullis_forward_auth {\n\t\tpolicy {\n\t\t\trequire bench:read\n\t\t}\n\t}\n}\n",
				global(), env.apiKeyConf, port)
		},
		front: nginxForwardAuth,
		load: func(url string, env *benchEnv) load {
			return load{url: url, headers: map[string]string{"Authorization": "Bearer " + env.apiKey}}
		},
		wantStatus: 200,
		ref:        "nginx",
	},
}

// nginxHTTP wraps server blocks into a complete nginx configuration that
// runs in the foreground as one process, with its files under dir.
func nginxHTTP(dir, servers string) string {
	var temps strings.Builder
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "\t%s_temp_path %s;\n", d, filepath.Join(dir, "tmp", d))
	}
	return fmt.Sprintf("daemon off;\nmaster_process off;\npid %s;\nerror_log stderr warn;\nevents {\n\tworker_connections 4096;\n}\nhttp {\n\taccess_log off;\n%s%s\n}\n",
		filepath.Join(dir, "nginx.pid"), temps.String(), servers)
}

// nginxAlone proxies to the upstream, keeping connections open as Caddy
// does.
func nginxAlone(port, _ int, env *benchEnv) (string, error) {
	return fmt.Sprintf(`upstream app {
	server 127.0.0.1:%d;
	keepalive 32;
}

server {
	listen 127.0.0.1:%d;
	location / {
		proxy_pass http://app;
		proxy_http_version 1.1;
		proxy_set_header Connection "";
	}
}
`, env.upstream, port), nil
}

// nginxForwardAuth is deploy/forward-auth/nginx.conf with the benchmark's
// addresses.
func nginxForwardAuth(port, gatewayPort int, env *benchEnv) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "forward-auth", "nginx.conf"))
	if err != nil {
		return "", fmt.Errorf("reading the shipped nginx configuration: %w", err)
	}
	conf := string(raw)
	for _, r := range [][2]string{
		{"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port)},
		{"server portcullis:9000;", fmt.Sprintf("server 127.0.0.1:%d;", gatewayPort)},
		{"server app:8080;", fmt.Sprintf("server 127.0.0.1:%d;", env.upstream)},
	} {
		if !strings.Contains(conf, r[0]) {
			return "", fmt.Errorf("deploy/forward-auth/nginx.conf no longer contains %q", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return conf, nil
}

// startScenario starts what a scenario measures on port: its gateway,
// or with a front, nginx on port (in front of the scenario's gateway, on
// a port of its own, which then runs as a helper of the nginx process).
func startScenario(dir, bin string, s scenario, port int, env *benchEnv) (*process, error) {
	if s.front == nil {
		return start(dir, s.name, s.site(port, env), port, direct(bin))
	}
	var helper *process
	gatewayPort := 0
	if s.site != nil {
		var err error
		if gatewayPort, err = freePort(); err != nil {
			return nil, err
		}
		if helper, err = start(dir, s.name+"-gateway", s.site(gatewayPort, env), gatewayPort, direct(bin)); err != nil {
			return nil, err
		}
	}
	stopHelper := func() {
		if helper != nil {
			helper.stop()
		}
	}
	servers, err := s.front(port, gatewayPort, env)
	if err != nil {
		stopHelper()
		return nil, err
	}
	prefix := filepath.Join(dir, s.name+"-nginx")
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(prefix, "tmp", d), 0o700); err != nil {
			stopHelper()
			return nil, err
		}
	}
	if _, err := os.Stat(nginxBinary); err != nil {
		stopHelper()
		return nil, fmt.Errorf("%s needs nginx at %s (apt-get install nginx): %w", s.name, nginxBinary, err)
	}
	p, err := start(dir, s.name+"-nginx", nginxHTTP(prefix, servers), port, launch{
		argv:          func(conf string) []string { return []string{nginxBinary, "-p", prefix, "-c", conf, "-e", "stderr"} },
		listenTimeout: listenTimeout,
	})
	if err != nil {
		stopHelper()
		return nil, err
	}
	if helper != nil {
		p.helpers = append(p.helpers, helper)
	}
	return p, nil
}

// cpuTime returns the CPU time the process and its helpers have used.
func (p *process) cpuTime() (time.Duration, error) {
	total, err := cpuTime(p.pid())
	for _, h := range p.helpers {
		t, herr := cpuTime(h.pid())
		total += t
		if err == nil {
			err = herr
		}
	}
	return total, err
}
