package clientreg

import (
	"errors"
	"net/http"
)

// OAuth error codes an *Error carries in Code.
const (
	// CodeInvalidClient: the client is unknown or its metadata document is
	// unusable (RFC 6749 §5.2).
	CodeInvalidClient = "invalid_client"
	// CodeInvalidClientMetadata: a registration request's metadata is
	// invalid (RFC 7591 §3.2.2).
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// CodeInvalidRedirectURI: a redirect URI is invalid or not registered
	// (RFC 7591 §3.2.2).
	CodeInvalidRedirectURI = "invalid_redirect_uri"
	// CodeTemporarilyUnavailable: a dependency (the store, the client's
	// metadata host) did not answer; retrying later may succeed.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	// CodeAccessDenied: the operation is turned off by configuration
	// (dynamic registration disabled).
	CodeAccessDenied = "access_denied"
)

// ErrUnknownClient is matched (errors.Is) by errors for a client id that
// names no client: no dynamic registration, or metadata documents turned
// off.
var ErrUnknownClient = errors.New("clientreg: unknown client")

// ErrUnavailable is matched (errors.Is) by errors caused by a dependency
// that failed (store down, metadata host unreachable or too slow): the
// client may be fine, try again later.
var ErrUnavailable = errors.New("clientreg: temporarily unavailable")

// ErrRegistrationDisabled is matched (errors.Is) by Register's error when
// dynamic registration is turned off.
var ErrRegistrationDisabled = errors.New("clientreg: dynamic registration disabled")

// Error is every error this package returns from Resolve, Register,
// Authenticate and CheckRedirectURI.
//
// Code is the OAuth error code to answer with; Reason is a short
// machine-readable reason for audit events and metric labels (never a
// client id or user data); Description is a sentence safe to show the
// client (error_description): it never contains internal detail such as
// addresses or store errors. Err is the underlying cause, for logs and
// errors.Is / errors.As; it may hold detail not meant for clients.
type Error struct {
	Code        string
	Reason      string
	Description string
	Err         error
}

// Error returns "clientreg: <reason>: <description>" followed by the
// cause, if any.
func (e *Error) Error() string {
	s := "clientreg: " + e.Reason + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status to answer the error with at the registration
// and token endpoints: 503 for CodeTemporarilyUnavailable, 403 for
// CodeAccessDenied, 401 for CodeInvalidClient and 400 otherwise.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case CodeAccessDenied:
		return http.StatusForbidden
	case CodeInvalidClient:
		return http.StatusUnauthorized
	default:
		return http.StatusBadRequest
	}
}

// Reasons an *Error carries in Reason.
const (
	ReasonUnknownClient         = "unknown_client"
	ReasonRegistrationDisabled  = "registration_disabled"
	ReasonDocumentsDisabled     = "metadata_documents_disabled"
	ReasonInvalidClientIDURL    = "metadata_invalid_client_id"
	ReasonTooLarge              = "metadata_too_large"
	ReasonPrivateAddress        = "metadata_private_address"
	ReasonRedirect              = "metadata_redirect"
	ReasonClientIDMismatch      = "metadata_client_id_mismatch"
	ReasonStatus                = "metadata_http_status"
	ReasonContentType           = "metadata_content_type"
	ReasonMalformed             = "metadata_malformed"
	ReasonInvalidMetadata       = "metadata_invalid"
	ReasonSymmetricSecret       = "metadata_symmetric_secret"
	ReasonFetchFailed           = "metadata_fetch_failed"
	ReasonTimeout               = "metadata_timeout"
	ReasonFetchBusy             = "metadata_fetch_busy"
	ReasonInvalidRedirectURI    = "invalid_redirect_uri"
	ReasonRedirectURIMismatch   = "redirect_uri_mismatch"
	ReasonInvalidSecret         = "invalid_client_secret"
	ReasonAuthMethodUnsupported = "auth_method_unsupported"
	ReasonStoreUnavailable      = "store_unavailable"
	ReasonRegistrationTooLarge  = "registration_too_large"
	ReasonRegistrationMalformed = "registration_malformed"
	ReasonInvalidRegistration   = "registration_invalid"
)

// newError builds an *Error.
func newError(code, reason, desc string, cause error) *Error {
	return &Error{Code: code, Reason: reason, Description: desc, Err: cause}
}
