package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/endpoint"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// The checks in this file are shared by the Caddyfile adapter (which
// wraps their errors with the file and line) and by Provision (which
// also serves JSON users), so both reject the same configurations.

// check validates an OIDC provider block. insecure (the session's
// insecure_cookie, for development over plain http) also allows plain
// http redirect and post-logout URLs on names that are not loopback,
// such as the hosts of a session domain mapped to 127.0.0.1.
func (o OIDCConfig) check(insecure bool) error {
	if _, err := endpoint.CheckSecureURL("oidc: issuer", o.Issuer); err != nil {
		return err
	}
	if o.ClientID == "" {
		return fmt.Errorf("oidc %s: client_id is required", o.Issuer)
	}
	if o.ClientSecret != "" {
		if _, err := resolveSecret("oidc: client_secret", o.ClientSecret); err != nil {
			return err
		}
	}
	if o.RedirectURL == "" {
		return fmt.Errorf("oidc %s: redirect_url is required (the exact callback URL registered at the provider, e.g. https://app.example.com/.portcullis/callback)", o.Issuer)
	}
	if err := o.checkRedirects(insecure); err != nil {
		return err
	}
	for _, s := range o.Scopes {
		if err := policy.ValidateScope(s); err != nil {
			return fmt.Errorf("oidc: %w", err)
		}
	}
	if o.ClockSkew != nil && *o.ClockSkew < 0 {
		return errors.New("oidc: clock_skew must not be negative")
	}
	err := oidcflow.CheckLoginParameters(oidcflow.Config{Scopes: o.Scopes, Prompt: o.Prompt, ClaimsRequest: o.Claims, AuthParams: o.AuthParams})
	if err != nil {
		return fmt.Errorf("oidc: %s", strings.ReplaceAll(err.Error(), "oidcflow: ", ""))
	}
	return nil
}

// checkRedirects checks the redirect and post-logout URLs: https, or
// http on loopback, or any http with insecure cookies.
func (o OIDCConfig) checkRedirects(insecure bool) error {
	check := func(what, raw string) (*url.URL, error) {
		if u, err := url.Parse(raw); insecure && err == nil && u.Scheme == "http" && u.Host != "" && u.User == nil {
			return u, nil
		}
		return endpoint.CheckSecureURL(what, raw)
	}
	if o.PostLogoutRedirectURL != "" {
		if _, err := check("oidc: post_logout_redirect_url", o.PostLogoutRedirectURL); err != nil {
			return err
		}
	}
	u, err := check("oidc: redirect_url", o.RedirectURL)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("oidc: redirect_url %q must not have a query or fragment", o.RedirectURL)
	}
	return nil
}

// checkTimeouts checks a session's timeouts against each other.
func (s SessionConfig) checkTimeouts() error {
	if s.IdleTimeout < 0 || s.AbsoluteTimeout < 0 || s.RememberMe < 0 || s.RememberMeIdle < 0 {
		return errors.New("session: timeouts must not be negative")
	}
	if s.RememberMeIdle > 0 && s.RememberMe == 0 {
		return errors.New("session: remember_me_idle needs remember_me")
	}
	absolute := time.Duration(s.AbsoluteTimeout)
	if absolute == 0 {
		absolute = session.DefaultAbsoluteTimeout
	}
	if s.RememberMe > 0 && time.Duration(s.RememberMe) < absolute {
		return fmt.Errorf("session: remember_me %s must not be shorter than absolute_timeout %s (a remembered session lives longer)", time.Duration(s.RememberMe), absolute)
	}
	if s.RememberMe > 0 && s.RememberMeIdle > s.RememberMe {
		return fmt.Errorf("session: remember_me_idle %s must not be longer than remember_me %s", time.Duration(s.RememberMeIdle), time.Duration(s.RememberMe))
	}
	if s.IdleTimeout > 0 && s.AbsoluteTimeout > 0 && s.AbsoluteTimeout < s.IdleTimeout {
		return fmt.Errorf("session: absolute_timeout %s must not be shorter than idle_timeout %s (a session ends at its absolute timeout however active it is)",
			time.Duration(s.AbsoluteTimeout), time.Duration(s.IdleTimeout))
	}
	return nil
}

// checkEndpointPrefix checks the path under which Portcullis serves its
// own endpoints.
func checkEndpointPrefix(p string) error {
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || len(p) < 3 {
		return fmt.Errorf("endpoint_prefix %q must start and end with / and name a path of its own, e.g. /.portcullis/", p)
	}
	return nil
}

// defaultJWTAlgorithms are accepted when an issuer lists none.
var defaultJWTAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA", "Ed25519"}

// hmacJWTAlgorithms are accepted only with an issuer's shared secret.
var hmacJWTAlgorithms = []string{"HS256", "HS384", "HS512"}

// asymmetricJWTAlgorithms are the public-key algorithms an issuer may list.
var asymmetricJWTAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}

// check validates a trusted JWT issuer.
func (j JWTIssuerConfig) check() error {
	if _, err := endpoint.CheckSecureURL("jwt: issuer", j.Issuer); err != nil {
		return err
	}
	if err := checkIssuerName(j.Name); err != nil {
		return fmt.Errorf("jwt %s: %w", j.Issuer, err)
	}
	if j.JWKSURI != "" {
		if _, err := endpoint.CheckSecureURL("jwt: jwks_uri", j.JWKSURI); err != nil {
			return err
		}
	}
	if len(j.Audiences) == 0 {
		return fmt.Errorf("jwt %s: at least one audience is required (tokens for other services must not be accepted)", j.Issuer)
	}
	for _, a := range j.Algorithms {
		if strings.EqualFold(a, "none") {
			return fmt.Errorf("jwt %s: algorithm none is never accepted", j.Issuer)
		}
		if slices.Contains(hmacJWTAlgorithms, a) {
			if j.SharedSecret == "" {
				return fmt.Errorf("jwt %s: %s needs a shared_secret for this issuer", j.Issuer, a)
			}
			continue
		}
		if !slices.Contains(asymmetricJWTAlgorithms, a) {
			return fmt.Errorf("jwt %s: unsupported algorithm %q (supported: %s)", j.Issuer, a, strings.Join(asymmetricJWTAlgorithms, " "))
		}
	}
	if j.SharedSecret != "" {
		if _, err := resolveSecret("jwt "+j.Issuer+": shared_secret", j.SharedSecret); err != nil {
			return err
		}
	}
	for _, rc := range j.RequiredClaims {
		if err := (policy.ClaimRequirement{Claim: rc.Claim, Values: rc.Values}).Validate(); err != nil {
			return fmt.Errorf("jwt %s: %w", j.Issuer, err)
		}
	}
	if j.ClockSkew != nil && *j.ClockSkew < 0 {
		return fmt.Errorf("jwt %s: clock_skew must not be negative", j.Issuer)
	}
	return nil
}

// record checks a static API key and turns it into a record. The hash
// is checked against hasher, so a hash made without the configured
// pepper is reported here rather than failing every request.
func (k APIKeyConfig) record(hasher apikey.Hasher) (apikey.Record, error) {
	if err := apikey.ValidateID(k.ID); err != nil {
		return apikey.Record{}, err
	}
	if k.Hash == "" {
		return apikey.Record{}, fmt.Errorf("api key %s: hash is required (print it with `portcullis apikey hash`)", k.ID)
	}
	if _, err := hasher.ParseDigest(k.Hash); err != nil {
		return apikey.Record{}, fmt.Errorf("api key %s: %w", k.ID, err)
	}
	if k.Subject == "" {
		return apikey.Record{}, fmt.Errorf("api key %s: subject is required", k.ID)
	}
	// What every request would refuse (principal.Validate) is refused
	// here, where the operator sees it.
	if err := (principal.Principal{Subject: k.Subject, Method: principal.MethodAPIKey, KeyID: k.ID, Name: k.Name}).Validate(); err != nil {
		return apikey.Record{}, fmt.Errorf("api key %s: subject or name: %w", k.ID, err)
	}
	for _, s := range k.Scopes {
		if err := policy.ValidateScope(s); err != nil {
			return apikey.Record{}, fmt.Errorf("api key %s: %w", k.ID, err)
		}
	}
	rec := apikey.Record{ID: k.ID, Hash: k.Hash, Subject: k.Subject, Name: k.Name, Scopes: k.Scopes}
	if k.Expires != "" {
		t, err := time.Parse(time.RFC3339, k.Expires)
		if err != nil {
			return apikey.Record{}, fmt.Errorf("api key %s: expires %q is not an RFC 3339 time like 2027-01-31T00:00:00Z", k.ID, k.Expires)
		}
		rec.Expires = t
	}
	return rec, nil
}

// hasher resolves the pepper and returns the key hasher.
func (a APIKeysConfig) hasher() (apikey.Hasher, error) {
	if a.Pepper == "" {
		return apikey.NewHasher(nil), nil
	}
	p, err := resolveSecret("api_keys: pepper", a.Pepper)
	if err != nil {
		return apikey.Hasher{}, err
	}
	if len(p) < minSecretBytes {
		return apikey.Hasher{}, fmt.Errorf("api_keys: pepper is %d bytes; it must be at least %d bytes", len(p), minSecretBytes)
	}
	return apikey.NewHasher([]byte(p)), nil
}

// prefix returns the configured or default key prefix, checked.
func (a APIKeysConfig) prefix() (string, error) {
	p := a.Prefix
	if p == "" {
		p = apikey.DefaultPrefix
	}
	if err := apikey.ValidatePrefix(p); err != nil {
		return "", fmt.Errorf("api_keys: %w", err)
	}
	return p, nil
}

// zone checks a rate-limit zone and compiles it.
func (z RateLimitZoneConfig) zone() (ratelimit.Zone, error) {
	if err := ratelimit.ValidateZoneName(z.Name); err != nil {
		return ratelimit.Zone{}, err
	}
	r, err := ratelimit.ParseRate(z.Rate)
	if err != nil {
		return ratelimit.Zone{}, fmt.Errorf("rate_limit %s: %w", z.Name, err)
	}
	out := ratelimit.Zone{Name: z.Name, Rate: r, Burst: z.Burst, Key: z.Key, OnError: ratelimit.OnError(z.OnError)}
	if out.Key == "" {
		out.Key = ratelimit.DefaultKey
	}
	return out, out.Validate()
}

// scopeGraph turns scope declarations into a graph, refusing a scope
// declared twice.
func scopeGraph(scopes []ScopeConfig) (map[string][]string, error) {
	g := make(map[string][]string, len(scopes))
	for _, s := range scopes {
		if _, dup := g[s.Name]; dup {
			return nil, fmt.Errorf("scope %s is declared twice; list everything it implies in one declaration", s.Name)
		}
		if len(s.Implies) == 0 {
			return nil, fmt.Errorf("scope %s: implies nothing", s.Name)
		}
		g[s.Name] = s.Implies
	}
	return g, nil
}

// checkCookieDomain checks a domain or host name in the configuration:
// a DNS name of at least two labels (a cookie for a public suffix such
// as "com" would be refused by browsers, or worse), written plainly.
func checkCookieDomain(d string) error {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	if !strings.Contains(d, ".") || strings.ContainsAny(d, "/:@ ") {
		return fmt.Errorf("%q is not a domain name such as example.com", d)
	}
	if !oidcflow.ReturnPolicyHost(d) {
		return fmt.Errorf("%q must be an ASCII DNS name (letters, digits, hyphens; IDN in its xn-- form)", d)
	}
	return nil
}

// checkDomainProviders checks that, with a session domain, every
// provider's redirect URL is on one auth host inside the domain.
func checkDomainProviders(domain string, cfgs []*OIDCConfig) error {
	if domain == "" {
		return nil
	}
	ps := &loginProviders{}
	for _, c := range cfgs {
		ps.list = append(ps.list, &loginProvider{name: c.Name, cfg: c})
	}
	return ps.setAuthHost(domain)
}
