package session

import (
	"errors"
	"fmt"
)

// ErrNoSession is matched (errors.Is) by every error that means "this
// request has no usable session": ErrNoCookie, ErrInvalidCookie,
// ErrNotFound, ErrExpired and ErrRefreshFailed all wrap it. The adapter
// treats it as "not authenticated" (redirect a browser to login, clear the
// cookie); it never means a backend failure, which is ErrUnavailable.
var ErrNoSession = errors.New("session: no valid session")

// Reasons for ErrNoSession. Their text is safe to show and log: it never
// contains a cookie, a session id or a token.
var (
	// ErrNoCookie means the request carried no session cookie.
	ErrNoCookie = fmt.Errorf("%w: no session cookie", ErrNoSession)
	// ErrInvalidCookie means the cookie was present but could not be
	// decoded: tampered, truncated, encoded with a key no longer
	// configured, or not ours at all.
	ErrInvalidCookie = fmt.Errorf("%w: invalid session cookie", ErrNoSession)
	// ErrNotFound means the ticket was valid but no record exists: the
	// session was logged out, revoked, or expired in the store.
	ErrNotFound = fmt.Errorf("%w: session not found", ErrNoSession)
	// ErrExpired means the record exists but its idle or absolute timeout
	// has passed (see Reason for which).
	ErrExpired = fmt.Errorf("%w: session expired", ErrNoSession)
	// ErrRefreshFailed means the identity provider refused to refresh the
	// session's tokens (for example the refresh token was revoked); the
	// session has been deleted and the user must log in again.
	ErrRefreshFailed = fmt.Errorf("%w: token refresh failed", ErrNoSession)
)

// ErrUnavailable means the session store could not be read or written (or
// a concurrent token refresh did not finish in time). Sessions fail
// closed: the adapter answers 503, it does not redirect to login.
var ErrUnavailable = errors.New("session: store unavailable")

// ErrRefreshTransient is returned (wrapped) by a Refresher when the
// identity provider could not be reached or answered with a server error:
// the refresh may succeed later. The Manager then keeps serving the
// session with its current tokens and retries after the refresh lock
// expires. Any other Refresher error ends the session (ErrRefreshFailed).
var ErrRefreshTransient = errors.New("session: token refresh temporarily failed")

// Reason values returned by Reason, for audit events, the `error=`
// attribute and metric labels.
const (
	ReasonNoCookie        = "no_cookie"
	ReasonInvalidCookie   = "invalid_cookie"
	ReasonNotFound        = "not_found"
	ReasonIdleTimeout     = "idle_timeout"
	ReasonAbsoluteTimeout = "absolute_timeout"
	ReasonRefreshFailed   = "refresh_failed"
	ReasonUnavailable     = "unavailable"
	ReasonInternal        = "internal"
)

// expiredError is ErrExpired with the timeout that ended the session.
type expiredError struct{ absolute bool }

// Error implements error.
func (e *expiredError) Error() string {
	if e.absolute {
		return ErrExpired.Error() + " (absolute timeout)"
	}
	return ErrExpired.Error() + " (idle timeout)"
}

// Unwrap returns ErrExpired.
func (e *expiredError) Unwrap() error { return ErrExpired }

// Reason maps an error from this package to a short machine-readable
// reason (one of the Reason constants), or "" for nil.
func Reason(err error) string {
	var exp *expiredError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoCookie):
		return ReasonNoCookie
	case errors.Is(err, ErrInvalidCookie):
		return ReasonInvalidCookie
	case errors.Is(err, ErrNotFound):
		return ReasonNotFound
	case errors.As(err, &exp):
		if exp.absolute {
			return ReasonAbsoluteTimeout
		}
		return ReasonIdleTimeout
	case errors.Is(err, ErrRefreshFailed):
		return ReasonRefreshFailed
	case errors.Is(err, ErrUnavailable):
		return ReasonUnavailable
	}
	return ReasonInternal
}

// unavailable wraps a backend error as ErrUnavailable, keeping the cause
// (store errors never contain credentials).
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}
