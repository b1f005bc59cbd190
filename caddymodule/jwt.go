package caddymodule

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/jwtauth"
)

// verifierPool shares JWT verifiers (their JWKS and verified-token
// caches) across config reloads, keyed by the issuers' fingerprint.
var verifierPool = caddy.NewUsagePool()

// pooledVerifier is a verifier with a pointer to the metrics of the
// config currently using it (the pooled value must not hold per-config
// state, so the pointer is swapped on each Provision).
type pooledVerifier struct {
	v       *jwtauth.Verifier
	metrics atomic.Pointer[metrics]
}

// Destruct stops the verifier.
func (p *pooledVerifier) Destruct() error { return p.v.Close() }

// jwtOptions turns the jwt blocks into verifier options.
func (a *App) jwtOptions() (jwtauth.Options, error) {
	opts := jwtauth.Options{}
	for _, j := range a.JWT {
		c := jwtauth.Config{
			Issuer: j.Issuer, JWKSURL: j.JWKSURI, Audiences: a.issuerAudiences(j), Algorithms: j.Algorithms,
			RequireAccessTokenType: j.RequireATJWT, GroupClaims: j.GroupsClaims,
		}
		if j.ClockSkew != nil { // unset: the default; an explicit 0: none
			c.ClockSkew = new(time.Duration(*j.ClockSkew))
		}
		if j.SharedSecret != "" {
			secret, err := resolveSecret("jwt "+j.Issuer+": shared_secret", j.SharedSecret)
			if err != nil {
				return opts, err
			}
			if raw, err := base64.StdEncoding.DecodeString(secret); err == nil && len(raw) >= minSecretBytes {
				secret = string(raw)
			}
			if len(secret) < minSecretBytes {
				return opts, fmt.Errorf("jwt %s: shared_secret must be at least %d bytes", j.Issuer, minSecretBytes)
			}
			c.SharedSecret = []byte(secret)
		}
		if len(j.RequiredClaims) > 0 {
			c.RequiredClaims = map[string]any{}
			for _, rc := range j.RequiredClaims {
				c.RequiredClaims[rc.Claim] = claimValue(rc.Values)
			}
		}
		opts.Issuers = append(opts.Issuers, c)
	}
	if as := a.authServer; as != nil {
		// The gateway's own access tokens, verified with its keys in-process.
		opts.Issuers = append(opts.Issuers, as.jwtIssuer(a.endpointPrefix))
		opts.HTTPClient = localKeysClient
	}
	return opts, opts.Validate()
}

// issuerAudiences are the audiences accepted from an issuer: its own,
// plus the URI and aliases of every protected resource it is an
// authorization server for (routes bound to a resource then check that
// the token names that resource).
func (a *App) issuerAudiences(j JWTIssuerConfig) []string {
	out := slices.Clone(j.Audiences)
	for _, r := range a.Resources {
		if !slices.Contains(r.AuthorizationServers, j.Issuer) {
			continue
		}
		for _, aud := range append([]string{r.URI}, r.AudienceAliases...) {
			if !slices.Contains(out, aud) {
				out = append(out, aud)
			}
		}
	}
	return out
}

// claimValue turns Caddyfile words into the JSON value a claim must equal:
// true/false as booleans, one word as a string.
func claimValue(vals []string) any {
	if len(vals) == 1 {
		switch strings.ToLower(vals[0]) {
		case "true":
			return true
		case "false":
			return false
		}
		return vals[0]
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// acquireVerifier returns the pooled verifier for the app's issuers.
func (a *App) acquireVerifier() error {
	if len(a.JWT) == 0 && a.authServer == nil {
		return nil
	}
	opts, err := a.jwtOptions()
	if err != nil {
		return err
	}
	key := "jwt:" + opts.Fingerprint()
	v, _, err := verifierPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		pv := &pooledVerifier{}
		opts.OnFetch = func(e jwtauth.FetchEvent) {
			if m := pv.metrics.Load(); m != nil {
				result := "ok"
				if !e.OK {
					result = "error"
				}
				m.fetches.WithLabelValues(e.Kind, result).Inc()
			}
		}
		ver, err := jwtauth.New(opts)
		if err != nil {
			return nil, err
		}
		pv.v = ver
		return pv, nil
	})
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	pv := v.(*pooledVerifier)
	pv.metrics.Store(a.metrics)
	a.verifier, a.verifierKey = pv.v, key
	return nil
}

// maxIssuerName bounds a jwt issuer's name.
const maxIssuerName = 64

// checkIssuerName accepts an empty name (none) or 1 to 64 letters,
// digits, '.', '_' and '-': never a URL, so a route's `issuers` entry is
// either a name or an issuer URL, unambiguously.
func checkIssuerName(n string) error {
	if n == "" {
		return nil
	}
	if len(n) > maxIssuerName {
		return fmt.Errorf("issuer name %.20q… is longer than %d characters", n, maxIssuerName)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("issuer name %q must use only letters, digits, '.', '_' and '-'", n)
		}
	}
	return nil
}

// resolveIssuers turns a route's `issuers` entries (issuer names or
// issuer URLs) into issuer URLs, refusing one the app does not trust.
func (a *App) resolveIssuers(entries []string) ([]string, error) {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		i := slices.IndexFunc(a.JWT, func(j JWTIssuerConfig) bool { return e != "" && (j.Name == e || j.Issuer == e) })
		if i < 0 {
			return nil, fmt.Errorf("issuers: %q is not the name or URL of a jwt issuer in the portcullis global option (%s)", e, a.issuerList())
		}
		if !slices.Contains(out, a.JWT[i].Issuer) {
			out = append(out, a.JWT[i].Issuer)
		}
	}
	return out, nil
}

// issuerList describes the trusted issuers for an error message: each
// by name (and URL), or "none".
func (a *App) issuerList() string {
	if len(a.JWT) == 0 {
		return "it trusts none"
	}
	parts := make([]string, len(a.JWT))
	for i, j := range a.JWT {
		parts[i] = j.Issuer
		if j.Name != "" {
			parts[i] = j.Name + " = " + j.Issuer
		}
	}
	return "trusted: " + strings.Join(parts, ", ")
}
