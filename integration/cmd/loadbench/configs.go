package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// scenario is one configuration measured against plain Caddy.
type scenario struct {
	// name as reported.
	name string
	// site returns the gateway's Caddyfile for its port and the upstream.
	site func(port int, env *benchEnv) string
	// load returns how wrk calls it.
	load func(url string, env *benchEnv) load
	// wantStatus is what every measured response must be (wrk counts the others).
	wantStatus int
	// ref names the scenario this one's own cost is measured against
	// (references.go): plain Caddy receiving the same request and
	// forwarding the same identity upstream. Empty for reference rows.
	ref string
	// ready, when set, runs once the gateway listens (e.g. to log in).
	ready func(name string, port int, env *benchEnv) error
	// front, when set, puts nginx in front (nginx.go): it returns the
	// upstream and server blocks of an nginx on port, in front of the
	// gateway of site (on gatewayPort; site may be nil: nginx alone).
	front func(port, gatewayPort int, env *benchEnv) (string, error)
}

// benchEnv holds what scenarios share: the upstream, the key, the tokens.
type benchEnv struct {
	upstream   int
	apiKey     string
	apiKeyID   string
	apiKeyConf string
	jwtIssuer  string
	jwtToken   string
	tokensFile string
	redisURL   string
	idp        string
	cookies    map[string]string
	provider   *oidcprovider.Provider
	redirects  []string
	// auditLog is how gateways write their audit events (-audit).
	auditLog string
	// dir is the benchmark's scratch directory.
	dir string
}

// registerRedirect registers one more gateway callback at the provider.
func (e *benchEnv) registerRedirect(uri string) {
	e.redirects = append(e.redirects, uri)
	e.provider.AddClient(oidcprovider.Client{ID: "bench", Secret: "bench-secret-0123456789", RedirectURIs: e.redirects})
}

// global is the global options block every Caddyfile shares.
func global() string {
	return "admin off\n\tauto_https off\n\tpersist_config off"
}

// Values of -audit: where a gateway writes its audit events.
const (
	// auditBuffered batches them (portcullis_buffered) into a file of
	// the gateway's own: the recommended configuration.
	auditBuffered = "buffered"
	// auditStderr leaves them on Caddy's default logger (stderr, which
	// the benchmark sends to the gateway's log file): one write system
	// call per event, as before portcullis_buffered existed.
	auditStderr = "stderr"
	// auditOff turns the audit logger off (level ERROR, output
	// discard): no event is encoded, so a row's own cost is then what
	// Portcullis adds besides its audit line.
	auditOff = "off"
)

// gatewayGlobal is the global options of a gateway on port: global()
// and, with -audit buffered, a log block sending portcullis.audit
// through portcullis_buffered to a file (Caddy's file writer, not
// rolled); with -audit off, one that keeps it from being encoded.
func gatewayGlobal(port int, env *benchEnv) string {
	if env.auditLog == auditOff {
		return global() + "\n\tlog audit {\n\t\tinclude portcullis.audit\n\t\toutput discard\n\t\tlevel ERROR\n\t}"
	}
	if env.auditLog != auditBuffered {
		return global()
	}
	return fmt.Sprintf("%s\n\tlog audit {\n\t\tinclude portcullis.audit\n\t\toutput portcullis_buffered {\n\t\t\toutput file %s {\n\t\t\t\troll_disabled\n\t\t\t}\n\t\t}\n\t\tformat json\n\t}",
		global(), filepath.Join(env.dir, fmt.Sprintf("audit-%d.log", port)))
}

// proxy is the site's reverse_proxy line to the upstream.
func proxy(env *benchEnv) string {
	return fmt.Sprintf("reverse_proxy 127.0.0.1:%d", env.upstream)
}

// jwtSite trusts the benchmark issuer.
func jwtSite(port int, env *benchEnv) string {
	return fmt.Sprintf("{\n\t%s\n\tportcullis {\n\t\tjwt %s {\n\t\t\tjwks_uri %s/jwks\n\t\t\taudience bench\n\t\t}\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\tportcullis {\n\t\trequire bench:read\n\t}\n\t%s\n}\n",
		gatewayGlobal(port, env), env.jwtIssuer, env.jwtIssuer, port, proxy(env))
}

// sessionSite protects the upstream with browser sessions in the given
// store, optionally with a rate-limit zone that never refuses.
func sessionSite(storeLine string, ratelimit bool) func(port int, env *benchEnv) string {
	return func(port int, env *benchEnv) string {
		zone, use := "", ""
		if ratelimit {
			zone, use = "\n\t\trate_limit bench 1000000/1s burst 1000000", "\n\t\trate_limit bench"
		}
		return fmt.Sprintf(`{
	%s
	portcullis {
		%s
		session {
			keys bench-session-key-0123456789abcdef0123
			insecure_cookie
		}
		oidc %s {
			client_id bench
			client_secret bench-secret-0123456789
			redirect_url http://127.0.0.1:%d/.portcullis/callback
		}%s
	}
}

http://127.0.0.1:%d {
	portcullis {%s
	}
	%s
}
`, gatewayGlobal(port, env), strings.ReplaceAll(storeLine, "{redis}", env.redisURL), env.idp, port, zone, port, use, proxy(env))
	}
}

// redisStore is the Redis store line. Its timeout is raised from the 50 ms
// default, which bounds the wait and not the work: under callgrind
// (-instructions) the gateway runs tens of times slower, and a session
// read or rate-limit call past 50 ms answered 503.
const redisStore = "store {redis} {\n\t\t\ttimeout 2s\n\t\t}"

// sessionLoad sends the scenario's session cookie.
func sessionLoad(name string) func(url string, env *benchEnv) load {
	return func(url string, env *benchEnv) load {
		return load{url: url, headers: map[string]string{"Cookie": "portcullis=" + env.cookies[name], "Accept": "application/json"}}
	}
}

// plainSite is Caddy's reverse_proxy alone.
func plainSite(port int, env *benchEnv) string {
	return fmt.Sprintf("{\n\t%s\n}\n\nhttp://127.0.0.1:%d {\n\t%s\n}\n", global(), port, proxy(env))
}

// benchRequestID looks like the ids the gateway makes (16 base32hex
// characters of a per-process prefix, '-', a base-36 counter).
const benchRequestID = "C5Q2M8T1VH0K4R7B-7ps1"

// identityHeaders are the headers the apikey configuration forwards
// upstream for the benchmark key, with values like the gateway's.
func identityHeaders(env *benchEnv) map[string]string {
	return map[string]string{
		"X-Auth-Subject": "bench",
		"X-Auth-Scopes":  "bench:read",
		"X-Auth-Method":  "api_key",
		"X-Auth-Key-Id":  env.apiKeyID,
		"X-Request-Id":   benchRequestID,
	}
}

// apiKeyID returns the id of a key `<prefix>_<id>_<secret>`: the part
// between the first two underscores.
func apiKeyID(key string) (string, error) {
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", fmt.Errorf("%q is not an API key of the form <prefix>_<id>_<secret>", key)
	}
	return parts[1], nil
}

// referenceScenario is the row that is not a gateway configuration but
// plain Caddy carrying apikey's identity headers from the client.
const referenceScenario = "plain+identity"

// referenceNote explains the reference row under a table. It has no '|',
// so redraw does not read it as a table row.
const referenceNote = "`" + referenceScenario + "` is a reference, not a gateway configuration: plain Caddy `reverse_proxy` " +
	"with the client sending the five identity headers `apikey` forwards upstream (X-Auth-Subject, X-Auth-Scopes, " +
	"X-Auth-Method, X-Auth-Key-Id, X-Request-Id). Its difference to plain is what Caddy spends carrying the identity upstream, " +
	"not work of Portcullis.\n"

// scenarios lists the configurations in report order; plain comes first
// and always runs, since the others are reported as ratios to it. Each
// gateway row follows its reference row (ref).
var scenarios = []scenario{
	{
		name:       "plain",
		site:       plainSite,
		load:       func(url string, env *benchEnv) load { return load{url: url} },
		wantStatus: 200,
	},
	{
		name:       referenceScenario,
		site:       plainSite,
		load:       func(url string, env *benchEnv) load { return load{url: url, headers: identityHeaders(env)} },
		wantStatus: 200,
	},
	{
		name:       refAPIKey,
		site:       refSite([]string{"Authorization"}, identityHeaders),
		load:       bearer(func(env *benchEnv) string { return env.apiKey }),
		wantStatus: 200,
	},
	{
		name: "apikey",
		site: func(port int, env *benchEnv) string {
			return fmt.Sprintf("{\n\t%s\n\tportcullis {\n\t\tapi_keys {\n\t\t\t%s\n\t\t}\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\tportcullis {\n\t\trequire bench:read\n\t}\n\t%s\n}\n",
				gatewayGlobal(port, env), env.apiKeyConf, port, proxy(env))
		},
		load:       bearer(func(env *benchEnv) string { return env.apiKey }),
		wantStatus: 200,
		ref:        refAPIKey,
	},
	{
		name: "apikey-audit-off",
		site: func(port int, env *benchEnv) string {
			return fmt.Sprintf("{\n\t%s\n\tportcullis {\n\t\tapi_keys {\n\t\t\t%s\n\t\t}\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\tportcullis {\n\t\trequire bench:read\n\t\taudit_allowed off\n\t}\n\t%s\n}\n",
				gatewayGlobal(port, env), env.apiKeyConf, port, proxy(env))
		},
		load:       bearer(func(env *benchEnv) string { return env.apiKey }),
		wantStatus: 200,
		ref:        refAPIKey,
	},
	{
		name:       refJWT,
		site:       refSite([]string{"Authorization"}, jwtIdentity),
		load:       bearer(func(env *benchEnv) string { return env.jwtToken }),
		wantStatus: 200,
	},
	{
		name:       "jwt-same",
		site:       jwtSite,
		load:       bearer(func(env *benchEnv) string { return env.jwtToken }),
		wantStatus: 200,
		ref:        refJWT,
	},
	{
		name:       refJWTUnique,
		site:       refSite([]string{"Authorization"}, jwtIdentity),
		load:       func(url string, env *benchEnv) load { return load{url: url, tokensFile: env.tokensFile} },
		wantStatus: 200,
	},
	{
		name:       "jwt-unique",
		site:       jwtSite,
		load:       func(url string, env *benchEnv) load { return load{url: url, tokensFile: env.tokensFile} },
		wantStatus: 200,
		ref:        refJWTUnique,
	},
	{name: refSession, site: refSite([]string{"Cookie"}, sessionIdentity), load: refSessionLoad, wantStatus: 200},
	{name: "session-mem", site: sessionSite("store memory", false), load: sessionLoad("session-mem"), wantStatus: 200, ready: login, ref: refSession},
	{name: "session-redis", site: sessionSite(redisStore, false), load: sessionLoad("session-redis"), wantStatus: 200, ready: login, ref: refSession},
	{name: "session-redis+ratelimit", site: sessionSite(redisStore, true), load: sessionLoad("session-redis+ratelimit"), wantStatus: 200, ready: login, ref: refSession},
	{
		name:       refAnonymous,
		site:       refSite(nil, anonymousIdentity),
		load:       func(url string, env *benchEnv) load { return load{url: url} },
		wantStatus: 200,
	},
	{name: "anonymous", site: anonymousSite(false), load: func(url string, env *benchEnv) load { return load{url: url} }, wantStatus: 200, ref: refAnonymous},
	{name: "anonymous+zone", site: anonymousSite(true), load: func(url string, env *benchEnv) load { return load{url: url} }, wantStatus: 200, ref: refAnonymous},
	{
		name: "deny",
		site: func(port int, env *benchEnv) string {
			return fmt.Sprintf("{\n\t%s\n\tportcullis {\n\t\tapi_keys {\n\t\t\t%s\n\t\t}\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\tportcullis\n\t%s\n}\n",
				gatewayGlobal(port, env), env.apiKeyConf, port, proxy(env))
		},
		load:       func(url string, env *benchEnv) load { return load{url: url} },
		wantStatus: 401,
		ref:        "plain",
	},
	nginxScenarios[0],
	nginxScenarios[1],
}
