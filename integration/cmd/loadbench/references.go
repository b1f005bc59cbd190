package main

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Reference rows: for each gateway configuration, plain Caddy
// `reverse_proxy` receiving the same request (the same credential header
// or cookie) and sending the upstream the same request the gateway sends:
// the credential removed and the same identity headers set, with
// `header_up`. A gateway row's own cost is its difference to its
// reference, measured in the same run (the same round, when timed).
const (
	refAPIKey    = "ref:apikey"
	refJWT       = "ref:jwt"
	refJWTUnique = "ref:jwt-unique"
	refSession   = "ref:session"
	refAnonymous = "ref:anonymous"
)

// isReference reports whether name is a reference row: plain itself,
// plain+identity, or a ref: row.
func isReference(name string) bool {
	return name == "plain" || name == referenceScenario || strings.HasPrefix(name, "ref:")
}

// refSite returns the Caddyfile of a reference row: plain Caddy that
// removes the credential headers drop and sets the identity headers
// upstream (sorted by name, so the Caddyfile is stable).
func refSite(drop []string, identity func(env *benchEnv) map[string]string) func(port int, env *benchEnv) string {
	return func(port int, env *benchEnv) string {
		h := identity(env)
		names := make([]string, 0, len(h))
		for k := range h {
			names = append(names, k)
		}
		slices.Sort(names)
		var b strings.Builder
		for _, d := range drop {
			fmt.Fprintf(&b, "\t\theader_up -%s\n", d)
		}
		for _, k := range names {
			fmt.Fprintf(&b, "\t\theader_up %s %q\n", k, h[k])
		}
		return fmt.Sprintf("{\n\t%s\n}\n\nhttp://127.0.0.1:%d {\n\treverse_proxy 127.0.0.1:%d {\n%s\t}\n}\n", global(), port, env.upstream, b.String())
	}
}

// jwtIdentity is what the jwt configurations forward for the benchmark
// token (jwt-unique's subjects differ in their number only).
func jwtIdentity(env *benchEnv) map[string]string {
	return map[string]string{
		"X-Auth-Subject": "client--1",
		"X-Auth-Scopes":  "bench:read",
		"X-Auth-Method":  "jwt",
		"X-Auth-Issuer":  env.jwtIssuer,
		"X-Request-Id":   benchRequestID,
	}
}

// sessionIdentity is what the session configurations forward for the
// benchmark user.
func sessionIdentity(env *benchEnv) map[string]string {
	return map[string]string{
		"X-Auth-Subject":  benchUser.ID,
		"X-Auth-Email":    benchUser.Email,
		"X-Auth-Name":     benchUser.Username,
		"X-Auth-Method":   "session",
		"X-Auth-Issuer":   env.idp,
		"X-Auth-Provider": "oidc",
		"X-Request-Id":    benchRequestID,
	}
}

// anonymousIdentity is what an anonymous route forwards: the request id.
func anonymousIdentity(*benchEnv) map[string]string {
	return map[string]string{"X-Request-Id": benchRequestID}
}

// sessionCookieLength is the length of a benchmark session cookie's
// value, for the reference row when no gateway has logged in yet (with
// -instructions, rows run one at a time).
const sessionCookieLength = 168

// refSessionLoad sends a session cookie like the gateways' (a real one
// when a session row has logged in, else one of the same length).
func refSessionLoad(url string, env *benchEnv) load {
	c := strings.Repeat("x", sessionCookieLength)
	for _, name := range []string{"session-mem", "session-redis", "session-redis+ratelimit"} {
		if v := env.cookies[name]; v != "" {
			c = v
			break
		}
	}
	return load{url: url, headers: map[string]string{"Cookie": "portcullis=" + c, "Accept": "application/json"}}
}

// anonymousSite is a route open to anonymous requests (an API-key
// configuration whose route allows /bench without a credential),
// optionally with an in-memory rate-limit zone that never refuses.
func anonymousSite(ratelimit bool) func(port int, env *benchEnv) string {
	return func(port int, env *benchEnv) string {
		zone, use := "", ""
		if ratelimit {
			zone, use = "\n\t\trate_limit bench 1000000/1s burst 1000000", "\n\t\trate_limit bench"
		}
		return fmt.Sprintf("{\n\t%s\n\tportcullis {\n\t\tapi_keys {\n\t\t\t%s\n\t\t}%s\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\tportcullis {\n\t\trequire bench:read\n\t\tallow_anonymous /bench%s\n\t}\n\t%s\n}\n",
			gatewayGlobal(port, env), env.apiKeyConf, zone, port, use, proxy(env))
	}
}

// bearer sends the scenario's bearer token.
func bearer(token func(env *benchEnv) string) func(url string, env *benchEnv) load {
	return func(url string, env *benchEnv) load {
		return load{url: url, headers: map[string]string{"Authorization": "Bearer " + token(env)}}
	}
}

// refNote explains the ref: rows and the own-cost columns under a table.
// It has no '|', so redraw does not read it as a table row.
const refNote = "`ref:` rows are references, not gateway configurations: plain Caddy `reverse_proxy` receiving the same request as the " +
	"gateway rows that name them (the same `Authorization` header or session cookie, no credential for `ref:anonymous`) and sending the " +
	"upstream the same request the gateway sends, the credential removed (`header_up -Authorization` or `-Cookie`) and the same identity " +
	"headers and X-Request-Id set with `header_up`. A gateway row's own cost is its difference to its reference in the same run; " +
	"`deny` is measured against plain and `nginx+forward-auth` against nginx alone.\n"

// notes returns the notes for the reference rows among names, each
// after an empty line.
func notes(names iter.Seq[string]) string {
	var identity, refs bool
	for n := range names {
		identity = identity || n == referenceScenario
		refs = refs || strings.HasPrefix(n, "ref:")
	}
	var b strings.Builder
	if identity {
		b.WriteString("\n" + referenceNote)
	}
	if refs {
		b.WriteString("\n" + refNote)
	}
	return b.String()
}
