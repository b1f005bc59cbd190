package request

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// ErrBodyTooLarge means a body is larger than the gateway reads to
// decide on it.
var ErrBodyTooLarge = errors.New("the request body is too large to authorize")

// PeekBody reads the body, up to max bytes, and puts what it read back
// in front of the rest, so the upstream receives the body intact. A
// declared or actual length above max is ErrBodyTooLarge, as is an
// http.MaxBytesReader limit set by an earlier handler. A failed read is
// an error whose text is safe to show (the cause, which may name network
// addresses, is only reachable through errors.Unwrap).
func PeekBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, ErrBodyTooLarge
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), rest), rest}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, ErrBodyTooLarge
	case err != nil:
		return nil, readError{err}
	case int64(len(raw)) > max:
		return nil, ErrBodyTooLarge
	}
	return raw, nil
}

// readError hides the cause of a failed body read behind a message
// that is safe to show.
type readError struct{ err error }

// Error implements error.
func (e readError) Error() string { return "the request body could not be read" }

// Unwrap returns the cause, for logs and errors.Is.
func (e readError) Unwrap() error { return e.err }
