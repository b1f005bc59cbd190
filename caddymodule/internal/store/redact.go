package store

import "strings"

// redactedError is an error whose message has had secrets removed. It
// unwraps to the original so errors.Is and errors.As keep working.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err, or a copy whose message has every secret replaced by
// "[redacted]". Secrets are matched literally, so even a very short
// password is removed (at the cost of a garbled message).
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{err: err, msg: msg}
}
