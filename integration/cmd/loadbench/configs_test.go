package main

import (
	"strings"
	"testing"
)

// TestAPIKeyID checks the key id taken from pcl_<id>_<secret>.
func TestAPIKeyID(t *testing.T) {
	id, err := apiKeyID("pcl_4fT9kQ2mZx7B_Vb3xx_yy")
	if err != nil || id != "4fT9kQ2mZx7B" {
		t.Fatalf("apiKeyID = %q, %v; want 4fT9kQ2mZx7B", id, err)
	}
	for _, bad := range []string{"", "pcl", "pcl_abc", "pcl__secret", "_id_secret", "pcl_id_"} {
		if _, err := apiKeyID(bad); err == nil {
			t.Errorf("apiKeyID(%q) gave no error", bad)
		}
	}
}

// TestReferenceScenarioFollowsPlain checks where the reference row sits,
// its headers, and that -only selects it.
func TestReferenceScenarioFollowsPlain(t *testing.T) {
	if scenarios[0].name != "plain" || scenarios[1].name != referenceScenario {
		t.Fatalf("scenarios start %s, %s; want plain, %s", scenarios[0].name, scenarios[1].name, referenceScenario)
	}
	env := &benchEnv{apiKeyID: "4fT9kQ2mZx7B"}
	h := scenarios[1].load("http://x/bench", env).headers
	if len(h) != 5 || h["X-Auth-Key-Id"] != "4fT9kQ2mZx7B" || h["X-Auth-Method"] != "api_key" {
		t.Fatalf("reference headers: %v", h)
	}
	if got := choose("apikey"); len(got) != 3 || got[0].name != "plain" || got[1].name != refAPIKey || got[2].name != "apikey" {
		t.Fatalf("choose(apikey) = %v", names(got))
	}
	if got := choose("anonymous+zone,deny"); len(got) != 4 || got[1].name != refAnonymous || got[2].name != "anonymous+zone" || got[3].name != "deny" {
		t.Fatalf("choose(anonymous+zone,deny) = %v", names(got))
	}
	if got := choose(referenceScenario); len(got) != 2 || got[1].name != referenceScenario {
		t.Fatalf("choose(%s) = %v", referenceScenario, got)
	}
}

// names lists the scenarios' names.
func names(ss []scenario) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.name)
	}
	return out
}

// TestEveryGatewayRowHasItsReference checks that every configuration
// names a reference row that exists, comes before it and is itself a
// reference, and that the reference rows send what their gateway rows
// receive.
func TestEveryGatewayRowHasItsReference(t *testing.T) {
	index := map[string]int{}
	for i, s := range scenarios {
		if _, dup := index[s.name]; dup {
			t.Fatalf("%s is listed twice", s.name)
		}
		index[s.name] = i
	}
	for _, want := range []string{"apikey", "jwt-same", "jwt-unique", "session-mem", "session-redis", "session-redis+ratelimit", "anonymous", "anonymous+zone"} {
		s := scenarios[index[want]]
		if _, ok := index[want]; !ok {
			t.Fatalf("no %s row", want)
		}
		j, ok := index[s.ref]
		if !ok || j > index[want] || !isReference(s.ref) || scenarios[j].ref != "" {
			t.Errorf("%s: reference %q is not a reference row listed before it", want, s.ref)
		}
	}
	env := &benchEnv{apiKey: "pcl_id_secret", apiKeyID: "id", jwtToken: "a.b.c", jwtIssuer: "http://127.0.0.1:1", idp: "http://127.0.0.1:2",
		upstream: 9, cookies: map[string]string{"session-mem": "ticket"}}
	for _, tc := range []struct{ gateway, header string }{
		{"apikey", "Authorization"}, {"jwt-same", "Authorization"}, {"session-mem", "Cookie"},
	} {
		g := scenarios[index[tc.gateway]]
		r := scenarios[index[g.ref]]
		if got, want := r.load("u", env).headers[tc.header], g.load("u", env).headers[tc.header]; got != want || got == "" {
			t.Errorf("%s sends %s %q, its reference %q", tc.gateway, tc.header, want, got)
		}
		site := r.site(8000, env)
		if !strings.Contains(site, "header_up -"+tc.header) || !strings.Contains(site, `header_up X-Request-Id "`+benchRequestID+`"`) {
			t.Errorf("%s's reference does not remove %s or set the request id:\n%s", tc.gateway, tc.header, site)
		}
	}
	if got := refSessionLoad("u", &benchEnv{}).headers["Cookie"]; len(got) != len("portcullis=")+sessionCookieLength {
		t.Errorf("reference session cookie before any login: %q", got)
	}
}

// TestGatewayAuditLog checks where gateways send audit events: through
// portcullis_buffered into a file of their own by default, to Caddy's
// default logger with -audit stderr, nowhere with -audit off; references
// never log audit events.
func TestGatewayAuditLog(t *testing.T) {
	env := &benchEnv{apiKeyConf: "key x", dir: "/tmp/lb", auditLog: auditBuffered}
	site := scenarios[3].site(8001, env) // apikey
	if scenarios[3].name != "apikey" || !strings.Contains(site, "output portcullis_buffered {") || !strings.Contains(site, "output file /tmp/lb/audit-8001.log") {
		t.Fatalf("apikey gateway with -audit buffered:\n%s", site)
	}
	if ref := scenarios[2].site(8002, env); strings.Contains(ref, "portcullis") {
		t.Fatalf("reference row configures portcullis:\n%s", ref)
	}
	env.auditLog = auditStderr
	if site := scenarios[3].site(8001, env); strings.Contains(site, "log audit") {
		t.Fatalf("apikey gateway with -audit stderr:\n%s", site)
	}
	env.auditLog = auditOff
	if site := scenarios[3].site(8001, env); !strings.Contains(site, "output discard") || !strings.Contains(site, "level ERROR") {
		t.Fatalf("apikey gateway with -audit off:\n%s", site)
	}
}
