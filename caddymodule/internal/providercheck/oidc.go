package providercheck

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
)

// oidcCheck checks one OpenID provider as the gateway's login uses it.
type oidcCheck struct {
	cfg     OIDC
	client  *http.Client
	timeout time.Duration
	rs      *results
	meta    *oidcflow.Metadata
	keys    *keySet // nil when the key set could not be fetched
}

// run performs the provider checks in the order a login meets them.
func (o *oidcCheck) run(ctx context.Context) []Result {
	component := "oidc " + o.cfg.Issuer
	if o.cfg.Name != "" {
		component = "oidc " + o.cfg.Name + " " + o.cfg.Issuer
	}
	o.rs = &results{component: component}
	if len(o.cfg.Scopes) == 0 {
		o.cfg.Scopes = oidcflow.DefaultScopes
	}
	if !slices.Contains(o.cfg.Scopes, "openid") {
		o.cfg.Scopes = append([]string{"openid"}, o.cfg.Scopes...)
	}
	if len(o.cfg.Prompt) == 0 && slices.Contains(o.cfg.Scopes, "offline_access") { // as oidcflow does
		o.cfg.Prompt = []string{"consent"}
	}
	if o.cfg.EndpointPrefix == "" {
		o.cfg.EndpointPrefix = DefaultEndpointPrefix
	}
	o.checkURLs()
	if !o.discover(ctx) {
		return o.rs.list
	}
	o.checkKeys(ctx)
	o.checkAlgorithms()
	o.checkResponseTypes()
	o.checkPKCE()
	o.checkAuthMethods()
	o.probeToken(ctx)
	o.probeAuthorize(ctx)
	o.checkUserInfo()
	o.checkRefresh()
	o.checkClaimsParameter()
	o.checkIssParameter()
	o.checkRevocation()
	o.checkEndSession()
	o.checkBackchannel()
	return o.rs.list
}

// offline reports whether a refresh token is asked for.
func (o *oidcCheck) offline() bool {
	return slices.Contains(o.cfg.Scopes, "offline_access") || strings.EqualFold(o.cfg.AuthParams["access_type"], "offline")
}

// discover fetches the discovery document with oidcflow.FetchMetadata,
// which also compares the issuers byte for byte. It reports false when
// the other checks cannot run.
func (o *oidcCheck) discover(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	du := oidcflow.DiscoveryURL(o.cfg.Issuer)
	m, err := oidcflow.FetchMetadata(ctx, o.client, o.cfg.Issuer)
	if err != nil {
		cause := providerCause(err)
		// FetchMetadata compares the issuers once it has the document.
		var mismatch *oidcflow.IssuerMismatchError
		if errors.As(err, &mismatch) {
			o.rs.ok("discovery", "fetched %s", du)
			o.rs.fail("issuer", "%s", cause)
		} else {
			hint := ""
			if errors.Is(err, oidcflow.ErrUnavailable) {
				hint = " (the provider is down or unreachable from this host; the gateway would answer logins with 503)"
			}
			o.rs.fail("discovery", "%s%s", cause, hint)
			o.rs.skip("issuer", "needs the discovery document")
		}
		o.rs.skip("provider", "keys, endpoints and the client are checked once discovery works")
		return false
	}
	o.meta = m
	o.rs.ok("discovery", "fetched %s", du)
	o.rs.ok("issuer", "%q matches the discovery document byte for byte", o.cfg.Issuer)
	return true
}

// providerCause is err's text without oidcflow's sentinel prefixes,
// which the status already says.
func providerCause(err error) string {
	s := err.Error()
	for _, sentinel := range []error{oidcflow.ErrMisconfigured, oidcflow.ErrUnavailable} {
		s = strings.TrimPrefix(s, sentinel.Error()+": ")
	}
	return s
}

// checkKeys fetches the provider's key set.
func (o *oidcCheck) checkKeys(ctx context.Context) {
	ks, err := fetchKeySet(ctx, o.client, o.timeout, o.meta.JWKSURI)
	if err != nil {
		o.rs.fail("jwks", "%v: ID tokens cannot be verified", err)
		return
	}
	o.keys = &ks
	o.rs.ok("jwks", "%s", ks.summary())
}

// checkAlgorithms compares the ID token algorithms the provider offers
// with the ones the gateway accepts, and with the keys.
func (o *oidcCheck) checkAlgorithms() {
	const check = "id token algorithms"
	accepted := oidcflow.AcceptedAlgorithms()
	offered := o.meta.IDTokenSigningAlgs
	assumed := len(offered) == 0
	if assumed { // OpenID Connect Discovery §3: RS256 is the default
		offered = []string{"RS256"}
	}
	var usable, refused []string
	for _, a := range offered {
		if slices.Contains(accepted, a) {
			usable = append(usable, a)
		} else {
			refused = append(refused, a)
		}
	}
	if len(usable) == 0 {
		o.rs.fail(check, "the provider signs ID tokens only with %s; the gateway accepts %s (never none or HS*): configure the provider or this client to sign with RS256 or ES256",
			strings.Join(offered, " "), strings.Join(accepted, " "))
		return
	}
	if o.keys != nil {
		if v := o.keys.verifiable(usable); len(v) == 0 {
			o.rs.fail(check, "no key of the key set fits %s: ID tokens cannot be verified", strings.Join(usable, " "))
			return
		}
	}
	detail := "offered " + strings.Join(offered, " ") + "; the gateway accepts " + strings.Join(usable, " ")
	if len(refused) > 0 {
		detail += " (never " + strings.Join(refused, " ") + ")"
	}
	if assumed {
		o.rs.warn(check, "id_token_signing_alg_values_supported is not advertised (it is required); the gateway assumes RS256")
		return
	}
	o.rs.ok(check, "%s", detail)
}

// checkResponseTypes requires the code flow.
func (o *oidcCheck) checkResponseTypes() {
	const check = "response types"
	switch rt := o.meta.ResponseTypesSupported; {
	case len(rt) == 0:
		o.rs.warn(check, "response_types_supported is not advertised (it is required); the gateway uses code")
	case slices.Contains(rt, "code"):
		o.rs.ok(check, "code is supported")
	default:
		o.rs.fail(check, "the provider lists %s but not code: the gateway uses the authorization code flow only", strings.Join(rt, " "))
	}
}

// checkPKCE looks for S256, which the gateway always uses.
func (o *oidcCheck) checkPKCE() {
	const check = "pkce"
	switch m := o.meta.CodeChallengeMethodsSupported; {
	case o.meta.SupportsPKCES256():
		o.rs.ok(check, "S256 is supported")
	case len(m) == 0:
		o.rs.warn(check, "S256 is not advertised (code_challenge_methods_supported is absent); the gateway always sends an S256 challenge, which most providers accept or ignore")
	default:
		o.rs.fail(check, "the provider lists only %s; the gateway always uses S256", strings.Join(m, " "))
	}
}

// checkUserInfo reports whether UserInfo is there when the gateway
// calls it.
func (o *oidcCheck) checkUserInfo() {
	const check = "userinfo"
	switch {
	case o.cfg.DisableUserInfo:
		o.rs.skip(check, "userinfo is off (disable_userinfo): claims come from the ID token only")
	case o.meta.UserinfoEndpoint != "":
		o.rs.ok(check, "%s", o.meta.UserinfoEndpoint)
	default:
		o.rs.warn(check, "the provider has no userinfo_endpoint: profile, email and groups come from the ID token only (set `userinfo off` to say that is intended)")
	}
}

// checkRefresh compares what the configuration asks for with what the
// provider offers.
func (o *oidcCheck) checkRefresh() {
	const check = "refresh"
	scopes := o.meta.ScopesSupported
	switch {
	case !o.offline():
		o.rs.ok(check, "offline_access is not requested: sessions end at their timeouts and are not re-checked at the provider")
	case !o.meta.SupportsRefresh():
		o.rs.warn(check, "a refresh token is requested but the provider does not list the refresh_token grant (grant_types_supported: %s): sessions will not be refreshed", strings.Join(o.meta.GrantTypesSupported, " "))
	case slices.Contains(o.cfg.Scopes, "offline_access") && len(scopes) > 0 && !slices.Contains(scopes, "offline_access"):
		o.rs.warn(check, "offline_access is requested but not in the provider's scopes_supported: it may refuse the scope or issue no refresh token (some providers want a parameter such as access_type=offline instead)")
	default:
		asked := "offline_access is requested"
		if !slices.Contains(o.cfg.Scopes, "offline_access") {
			asked = "access_type=offline is requested"
		}
		if len(o.cfg.Prompt) > 0 {
			asked += " (prompt " + strings.Join(o.cfg.Prompt, " ") + ")"
		}
		o.rs.ok(check, "%s and the provider offers the refresh_token grant", asked)
	}
}

// checkClaimsParameter reports whether the claims parameter (with which
// the gateway asks for auth_time) works.
func (o *oidcCheck) checkClaimsParameter() {
	const check = "claims parameter"
	switch {
	case o.meta.ClaimsParameterSupported:
		o.rs.ok(check, "supported: the gateway asks for auth_time in the ID token")
	case o.cfg.Claims != "":
		o.rs.warn(check, "claims is configured but the provider does not advertise claims_parameter_supported: it may ignore the request")
	default:
		o.rs.ok(check, "not supported: the gateway cannot ask for auth_time (max_age rules still get it, OIDC Core §3.1.2.1)")
	}
}

// checkIssParameter reports RFC 9207 support.
func (o *oidcCheck) checkIssParameter() {
	const check = "iss parameter"
	if o.meta.AuthorizationResponseIssParameterSupported {
		o.rs.ok(check, "authorization responses carry iss (RFC 9207); the callback requires it")
		return
	}
	o.rs.ok(check, "not advertised (RFC 9207): responses are accepted without iss, fine with one provider")
}

// checkRevocation reports whether logout can revoke refresh tokens.
func (o *oidcCheck) checkRevocation() {
	const check = "revocation"
	switch {
	case o.cfg.DisableRevocation:
		o.rs.skip(check, "revoke_on_logout is off (disable_revocation): logout does not revoke refresh tokens")
	case o.meta.RevocationEndpoint != "":
		o.rs.ok(check, "%s: logout revokes the session's refresh token (RFC 7009)", o.meta.RevocationEndpoint)
	default:
		o.rs.warn(check, "the provider has no revocation_endpoint: logout cannot revoke refresh tokens (RFC 7009); they stay valid at the provider until they expire")
	}
}

// checkEndSession reports whether RP-initiated logout works.
func (o *oidcCheck) checkEndSession() {
	const check = "end session"
	switch {
	case o.meta.EndSessionEndpoint != "":
		o.rs.ok(check, "%s: logout also ends the provider session", o.meta.EndSessionEndpoint)
	case o.cfg.PostLogoutRedirectURL != "":
		o.rs.warn(check, "the provider has no end_session_endpoint: logout ends the gateway session only, and post_logout_redirect_url is never used")
	default:
		o.rs.warn(check, "the provider has no end_session_endpoint: logout ends the gateway session only, not the provider's")
	}
}

// checkBackchannel reports back-channel logout support.
func (o *oidcCheck) checkBackchannel() {
	const check = "back-channel logout"
	u := o.backchannelURL()
	switch {
	case !o.meta.BackchannelLogoutSupported:
		o.rs.warn(check, "not advertised: a logout at the provider does not end gateway sessions before their timeouts")
	case !o.meta.BackchannelLogoutSessionSupported:
		o.rs.ok(check, "supported (without sid: a logout ends every gateway session of the user); register %s at the provider", u)
	default:
		o.rs.ok(check, "supported; register %s at the provider", u)
	}
}

// checkAuthMethods compares the provider's client authentication methods
// with what the gateway uses.
func (o *oidcCheck) checkAuthMethods() {
	const check = "client authentication"
	methods := o.meta.TokenEndpointAuthMethods
	listed := strings.Join(methods, " ")
	switch {
	case o.cfg.ClientSecret == "":
		if len(methods) > 0 && !slices.Contains(methods, "none") {
			o.rs.warn(check, "no client_secret is configured (public client) but the provider lists only %s: it may refuse a client without a secret", listed)
			return
		}
		o.rs.ok(check, "public client: client_id in the request body, PKCE")
	case len(methods) == 0:
		o.rs.ok(check, "client_secret_basic (the default; token_endpoint_auth_methods_supported is absent)")
	case slices.Contains(methods, "client_secret_basic"):
		o.rs.ok(check, "client_secret_basic (the provider lists %s)", listed)
	case slices.Contains(methods, "client_secret_post"):
		o.rs.ok(check, "client_secret_post (the provider lists %s)", listed)
	default:
		o.rs.fail(check, "the provider lists only %s; the gateway authenticates with client_secret_basic or client_secret_post", listed)
	}
}

// authStyle is how the gateway authenticates at the token endpoint:
// "basic", "post", or "none" for a public client (as oidcflow decides).
func (o *oidcCheck) authStyle() string {
	methods := o.meta.TokenEndpointAuthMethods
	switch {
	case o.cfg.ClientSecret == "":
		return "none"
	case len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post"):
		return "post"
	}
	return "basic"
}

// describeStyle names an auth style for report lines.
func describeStyle(style string) string {
	switch style {
	case "post":
		return "client_secret_post"
	case "none":
		return "no secret (public client)"
	}
	return "client_secret_basic"
}
