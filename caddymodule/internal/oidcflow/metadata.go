package oidcflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxMetadataBytes bounds a discovery document.
const maxMetadataBytes = 1 << 20

// Metadata is the part of a provider's discovery document (OpenID
// Connect Discovery 1.0 §3, RFC 8414 §2) the gateway reads.
type Metadata struct {
	// Issuer must equal the configured issuer byte for byte.
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is where browsers are sent to log in.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	// TokenEndpoint exchanges codes and refresh tokens.
	TokenEndpoint string `json:"token_endpoint"`
	// UserinfoEndpoint serves the user's claims (OIDC Core §5.3); "" if none.
	UserinfoEndpoint string `json:"userinfo_endpoint,omitempty"`
	// JWKSURI is the provider's key set.
	JWKSURI string `json:"jwks_uri"`
	// EndSessionEndpoint is for RP-initiated logout; "" if none.
	EndSessionEndpoint string `json:"end_session_endpoint,omitempty"`
	// RevocationEndpoint is RFC 7009 token revocation; "" if none.
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
	// ScopesSupported lists scopes the provider knows (may be incomplete).
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported must include "code".
	ResponseTypesSupported []string `json:"response_types_supported,omitempty"`
	// GrantTypesSupported; absent means authorization_code and implicit
	// (RFC 8414 §2).
	GrantTypesSupported []string `json:"grant_types_supported,omitempty"`
	// CodeChallengeMethodsSupported lists PKCE methods (RFC 8414 §2).
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// IDTokenSigningAlgs are the ID token signature algorithms.
	IDTokenSigningAlgs []string `json:"id_token_signing_alg_values_supported,omitempty"`
	// UserinfoSigningAlgs, when set, are the algorithms of signed
	// UserInfo responses.
	UserinfoSigningAlgs []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	// TokenEndpointAuthMethods are the client authentication methods.
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// ClaimsParameterSupported: the `claims` request parameter works
	// (OIDC Core §5.5).
	ClaimsParameterSupported bool `json:"claims_parameter_supported,omitempty"`
	// ClaimsSupported lists claims the provider may supply.
	ClaimsSupported []string `json:"claims_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: authorization responses
	// carry `iss` (RFC 9207), which the callback then requires.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// BackchannelLogoutSupported: the provider posts logout tokens
	// (Back-Channel Logout 1.0 §2.1).
	BackchannelLogoutSupported bool `json:"backchannel_logout_supported,omitempty"`
	// BackchannelLogoutSessionSupported: logout tokens carry `sid`.
	BackchannelLogoutSessionSupported bool `json:"backchannel_logout_session_supported,omitempty"`
}

// DiscoveryURL returns the discovery document URL of issuer (OpenID
// Connect Discovery 1.0 §4.1: the issuer without a trailing slash, then
// /.well-known/openid-configuration).
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// FetchMetadata fetches and checks issuer's discovery document with
// client (bounded by ctx). The document's issuer must equal issuer byte
// for byte (§4.3), and it must name absolute http(s) authorization, token
// and JWKS endpoints.
//
// Errors wrap ErrMisconfigured when the fix is in a configuration (a
// wrong issuer, a host that does not exist, an untrusted certificate, no
// document at that address, a document that is not one) and
// ErrUnavailable when trying again may help (timeouts, refused
// connections, 5xx, 429). Their text names the cause and never a secret.
func FetchMetadata(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	m, err := FetchDiscovery(ctx, client, issuer)
	if err != nil {
		return nil, err
	}
	u := DiscoveryURL(issuer)
	for _, ep := range []struct{ name, url string }{
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"token_endpoint", m.TokenEndpoint},
	} {
		if !absoluteHTTP(ep.url) {
			return nil, fmt.Errorf("%w: discovery document %s: %s %q is not an absolute http(s) URL", ErrMisconfigured, u, ep.name, ep.url)
		}
	}
	return m, nil
}

// FetchDiscovery is FetchMetadata for an issuer of bearer tokens only:
// the document must name the issuer byte for byte and an absolute
// jwks_uri; the login endpoints may be absent (RFC 8414 servers that
// only issue tokens). Optional endpoints present must be absolute.
func FetchDiscovery(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	u := DiscoveryURL(issuer)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery URL %q: %v", ErrMisconfigured, u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, transportError("discovery", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading discovery document %s: %v", ErrUnavailable, u, err)
	}
	if err := statusError("discovery document", u, resp.StatusCode); err != nil {
		return nil, err
	}
	if len(body) > maxMetadataBytes {
		return nil, fmt.Errorf("%w: discovery document %s is larger than %d bytes", ErrMisconfigured, u, maxMetadataBytes)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, fmt.Errorf("%w: %s answered %s, not a JSON discovery document (is the issuer URL right?)", ErrMisconfigured, u, mt)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: discovery document %s is not valid JSON: %v", ErrMisconfigured, u, err)
	}
	if m.Issuer != issuer {
		return nil, fmt.Errorf("%w: %w", ErrMisconfigured, &IssuerMismatchError{Configured: issuer, Discovered: m.Issuer})
	}
	if !absoluteHTTP(m.JWKSURI) {
		return nil, fmt.Errorf("%w: discovery document %s: jwks_uri %q is not an absolute http(s) URL", ErrMisconfigured, u, m.JWKSURI)
	}
	for _, ep := range []struct {
		name string
		url  *string
	}{
		{"authorization_endpoint", &m.AuthorizationEndpoint},
		{"token_endpoint", &m.TokenEndpoint},
		{"userinfo_endpoint", &m.UserinfoEndpoint},
		{"end_session_endpoint", &m.EndSessionEndpoint},
		{"revocation_endpoint", &m.RevocationEndpoint},
	} {
		if *ep.url != "" && !absoluteHTTP(*ep.url) {
			return nil, fmt.Errorf("%w: discovery document %s: %s %q is not an absolute http(s) URL", ErrMisconfigured, u, ep.name, *ep.url)
		}
	}
	return &m, nil
}

// IssuerMismatchError is the discovery failure of a configured issuer
// that is not, byte for byte, the issuer the provider's discovery
// document names (OpenID Connect Discovery 1.0 §4.3). FetchMetadata
// wraps it with ErrMisconfigured.
type IssuerMismatchError struct {
	// Configured is the issuer in the configuration.
	Configured string
	// Discovered is the issuer the discovery document names.
	Discovered string
}

// Error implements error, with a hint when only a trailing slash differs.
func (e *IssuerMismatchError) Error() string {
	hint := ""
	if strings.TrimSuffix(e.Discovered, "/") == strings.TrimSuffix(e.Configured, "/") {
		hint = " (only a trailing slash differs: write the issuer exactly as the provider does)"
	}
	return fmt.Sprintf("issuer mismatch: configured %q, the provider's discovery document says %q%s", e.Configured, e.Discovered, hint)
}

// SupportsRefresh reports whether the document says refresh tokens can
// be had: the refresh_token grant is listed (or grant types are not
// listed at all).
func (m *Metadata) SupportsRefresh() bool {
	return len(m.GrantTypesSupported) == 0 || slices.Contains(m.GrantTypesSupported, "refresh_token")
}

// SupportsPKCES256 reports whether S256 is among the PKCE methods. A
// provider that lists none may still support it (the field is optional).
func (m *Metadata) SupportsPKCES256() bool {
	return slices.Contains(m.CodeChallengeMethodsSupported, "S256")
}

// absoluteHTTP reports whether s is an absolute http(s) URL with a host
// and no fragment.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Fragment == ""
}

// statusError classifies a provider endpoint's HTTP status: nil for 200,
// ErrUnavailable for 5xx and 429 (try again), ErrMisconfigured for
// anything else (the address is wrong or the provider refuses us).
func statusError(what, u string, status int) error {
	switch {
	case status == http.StatusOK:
		return nil
	case status >= 500 || status == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s %s answered %d", ErrUnavailable, what, u, status)
	case status == http.StatusNotFound || status == http.StatusGone:
		return fmt.Errorf("%w: no %s at %s (%d): check the issuer URL", ErrMisconfigured, what, u, status)
	}
	return fmt.Errorf("%w: %s %s answered %d", ErrMisconfigured, what, u, status)
}

// transportError classifies a failed request to the provider: a host
// that does not exist or a certificate we do not trust is a
// configuration problem; timeouts, refused and reset connections are
// outages.
func transportError(what, u string, err error) error {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Errorf("%w: %s %s: host %q not found (DNS)", ErrMisconfigured, what, u, dnsErr.Name)
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr), errors.As(err, &verifyErr):
		return fmt.Errorf("%w: %s %s: the provider's TLS certificate is not trusted: %s", ErrMisconfigured, what, u, lastPart(err))
	case errors.As(err, &recordErr), errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("%w: %s %s: the provider does not speak TLS there (is it http://?)", ErrMisconfigured, what, u)
	}
	return fmt.Errorf("%w: %s %s: %s", ErrUnavailable, what, u, lastPart(err))
}

// lastPart returns the innermost description of a transport error
// (url.Error and net.OpError prefix it with the method, URL and
// addresses), bounded to one line.
func lastPart(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return firstLine(err.Error())
}
