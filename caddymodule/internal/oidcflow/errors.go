package oidcflow

import (
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
)

// Errors callers branch on (errors.Is). Their text is safe to show: it
// never contains a code, a token, a cookie, a secret or a provider's
// free-text error description.
var (
	// ErrUnavailable means the identity provider (discovery, token
	// endpoint) or the state store could not be reached. The adapter
	// answers 503; existing sessions keep working.
	ErrUnavailable = errors.New("oidcflow: identity provider unavailable")
	// ErrMisconfigured means the provider cannot be used as configured:
	// the issuer differs from the provider's (a trailing slash is
	// enough), the host does not exist, its certificate is not trusted,
	// there is no discovery document at that address, or the provider
	// refuses our client (invalid_client). Retrying does not help; the
	// operator must fix the configuration, and the cause is logged.
	ErrMisconfigured = errors.New("oidcflow: identity provider misconfigured")
	// ErrIssuerMismatch means the authorization response names another
	// issuer in `iss`, or lacks it although the provider advertises RFC
	// 9207 (a mix-up attack, or a response replayed from elsewhere).
	ErrIssuerMismatch = errors.New("oidcflow: authorization response issuer does not match")
	// ErrUserInfo means the UserInfo endpoint failed or answered for
	// another subject; the login or refresh does not complete.
	ErrUserInfo = errors.New("oidcflow: UserInfo failed")
	// ErrUserInfoSubject means UserInfo's sub differs from the ID
	// token's (OIDC Core §5.3.4). It wraps ErrUserInfo.
	ErrUserInfoSubject = fmt.Errorf("%w: sub differs from the ID token's", ErrUserInfo)
	// ErrRefreshRefused means the provider refused a refresh (for
	// example invalid_grant: the refresh token was revoked or expired).
	ErrRefreshRefused = errors.New("oidcflow: the provider refused the refresh")
	// ErrStateMismatch means the callback's state does not match the flow
	// cookie (forged or crossed callback, login CSRF) or the flow cookie
	// is not ours.
	ErrStateMismatch = errors.New("oidcflow: login state does not match")
	// ErrFlowExpired means the login flow is missing or older than
	// Config.FlowTTL (the user took too long, or the flow cookie was not
	// sent). Starting a new login is safe.
	ErrFlowExpired = errors.New("oidcflow: login flow expired or missing")
	// ErrFlowReplayed means the callback of this flow was already used
	// (single use is enforced in the store, not only by the cookie).
	ErrFlowReplayed = errors.New("oidcflow: login flow already used")
	// ErrProvider means the provider redirected back with an error (for
	// example access_denied); see ProviderError for the code.
	ErrProvider = errors.New("oidcflow: identity provider returned an error")
	// ErrExchange means the authorization code could not be exchanged
	// (invalid or reused code, wrong PKCE verifier, client misconfigured).
	ErrExchange = errors.New("oidcflow: code exchange failed")
	// ErrIDToken means the ID token is missing or invalid (signature,
	// issuer, audience, expiry, at_hash, auth_time).
	ErrIDToken = errors.New("oidcflow: invalid ID token")
	// ErrNonceMismatch means the ID token's nonce is not the flow's. It
	// wraps ErrIDToken.
	ErrNonceMismatch = fmt.Errorf("%w: nonce mismatch", ErrIDToken)
	// ErrLogoutToken means a back-channel logout token is invalid.
	ErrLogoutToken = errors.New("oidcflow: invalid logout token")
	// ErrLogoutReplayed means a back-channel logout token (its jti) was
	// already processed. It wraps ErrLogoutToken.
	ErrLogoutReplayed = fmt.Errorf("%w: already processed", ErrLogoutToken)
	// ErrNoEndSession means the provider advertises no
	// end_session_endpoint, so RP-initiated logout is not possible.
	ErrNoEndSession = errors.New("oidcflow: provider has no end_session_endpoint")
)

// Reason values returned by Reason, for audit events and metrics.
const (
	ReasonUnavailable    = "idp_unavailable"
	ReasonMisconfigured  = "idp_misconfigured"
	ReasonIssuerMismatch = "issuer_mismatch"
	ReasonUserInfo       = "userinfo_failed"
	ReasonUserInfoDown   = "userinfo_unavailable"
	ReasonUserInfoSub    = "userinfo_subject_mismatch"
	ReasonRefreshRefused = "refresh_refused"
	ReasonNoRefreshToken = "no_refresh_token"
	ReasonRevocation     = "revocation_failed"
	ReasonStateMismatch  = "state_mismatch"
	ReasonFlowExpired    = "flow_expired"
	ReasonFlowReplayed   = "flow_replayed"
	ReasonProvider       = "idp_error"
	ReasonExchange       = "exchange_failed"
	ReasonNonceMismatch  = "nonce_mismatch"
	ReasonIDToken        = "id_token_invalid"
	ReasonLogoutReplay   = "logout_token_replayed"
	ReasonLogoutToken    = "logout_token_invalid"
	ReasonNoEndSession   = "no_end_session"
	ReasonInternal       = "internal"
)

// Reason maps an error from this package to a short machine-readable
// reason (a Reason constant), or "" for nil.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUserInfoSubject):
		return ReasonUserInfoSub
	case errors.Is(err, ErrUserInfo) && errors.Is(err, ErrUnavailable):
		return ReasonUserInfoDown
	case errors.Is(err, ErrUserInfo):
		return ReasonUserInfo
	case errors.Is(err, ErrMisconfigured):
		return ReasonMisconfigured
	case errors.Is(err, ErrIssuerMismatch):
		return ReasonIssuerMismatch
	case errors.Is(err, ErrRefreshRefused):
		return ReasonRefreshRefused
	case errors.Is(err, ErrUnavailable):
		return ReasonUnavailable
	case errors.Is(err, ErrStateMismatch):
		return ReasonStateMismatch
	case errors.Is(err, ErrFlowExpired):
		return ReasonFlowExpired
	case errors.Is(err, ErrFlowReplayed):
		return ReasonFlowReplayed
	case errors.Is(err, ErrProvider):
		return ReasonProvider
	case errors.Is(err, ErrExchange):
		return ReasonExchange
	case errors.Is(err, ErrNonceMismatch):
		return ReasonNonceMismatch
	case errors.Is(err, ErrIDToken):
		return ReasonIDToken
	case errors.Is(err, ErrLogoutReplayed):
		return ReasonLogoutReplay
	case errors.Is(err, ErrLogoutToken):
		return ReasonLogoutToken
	case errors.Is(err, ErrNoEndSession):
		return ReasonNoEndSession
	}
	return ReasonInternal
}

// ProviderError is the error the provider reported on the callback
// (`error` parameter). It wraps ErrProvider.
type ProviderError struct {
	// Code is the OAuth error code (RFC 6749 section 4.1.2.1), such as
	// "access_denied" or "login_required"; "invalid" if the provider sent
	// something that is not a plain code. The description is dropped.
	Code string
}

// Error implements error.
func (e *ProviderError) Error() string { return ErrProvider.Error() + ": " + e.Code }

// Unwrap returns ErrProvider.
func (e *ProviderError) Unwrap() error { return ErrProvider }

// safeCode returns code if it is a plausible OAuth error code (letters,
// digits, underscore, at most 64 bytes), else "invalid": codes come from
// the query string, which anyone can write.
func safeCode(code string) string {
	if code == "" || len(code) > 64 {
		return "invalid"
	}
	for _, r := range code {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "invalid"
		}
	}
	return code
}

// tokenClass classifies a token endpoint failure.
type tokenClass int

const (
	tokenRefused       tokenClass = iota // the grant was refused (invalid_grant …)
	tokenTransient                       // network failure, 5xx, 429: retry later
	tokenClientRefused                   // invalid_client, unauthorized_client: configuration
)

// tokenEndpointError describes a token endpoint failure without its body
// (which may echo request data): the HTTP status and the error code,
// and its class.
func tokenEndpointError(err error) (msg string, class tokenClass) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		code := "none"
		if re.ErrorCode != "" {
			code = safeCode(re.ErrorCode)
		}
		msg = fmt.Sprintf("token endpoint answered %d (error %s)", status, code)
		switch {
		case status >= 500 || status == http.StatusTooManyRequests:
			return msg, tokenTransient
		case code == "invalid_client" || code == "unauthorized_client":
			return msg, tokenClientRefused
		}
		return msg, tokenRefused
	}
	// Transport errors (timeouts, refused connections) carry URLs and
	// addresses, not secrets; keep only their last part.
	return "token endpoint unreachable: " + lastPart(err), tokenTransient
}
