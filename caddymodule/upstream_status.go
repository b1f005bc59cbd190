package caddymodule

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// statusWriter records the status the next handler answers with, for the
// allowed decision's audit event. It never buffers: every write goes
// straight through, and Unwrap lets http.ResponseController reach the
// writer underneath for Flush, Hijack and deadlines (Push comes from
// caddyhttp.ResponseWriterWrapper).
type statusWriter struct {
	caddyhttp.ResponseWriterWrapper
	// status is the first final (or 101) status written; 0 until then.
	status int
	// app, when set, is where the event is written once the status is
	// known (before it is passed on), with the time since began; the
	// writer is the event's only holder, so one allocation carries both.
	app    *App
	le     loggedEvent
	began  time.Time
	logged bool
}

// WriteHeader records the first final status and passes it on.
// Informational statuses (103 Early Hints) are passed on unrecorded,
// except 101 Switching Protocols, which is final for the request.
func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.record(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write records the implicit 200 of a body written without a status.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.record(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom records the implicit 200 of a body copied without a status
// (io.Copy reaches ReadFrom, which would otherwise pass Write by) once
// some of it is written, and copies it as
// caddyhttp.ResponseWriterWrapper does.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.ResponseWriterWrapper.ReadFrom(r)
	if w.status == 0 && n > 0 {
		w.record(http.StatusOK)
	}
	return n, err
}

// record keeps the status and writes the event.
func (w *statusWriter) record(status int) {
	w.status = status
	w.log(status)
}

// log writes the allowed event with the upstream's status, once.
func (w *statusWriter) log(status int) {
	if w.app == nil || w.logged {
		return
	}
	w.logged = true
	w.le.ev.UpstreamStatus, w.le.ev.UpstreamMS = status, time.Since(w.began).Milliseconds()
	w.app.write(&w.le) // never changed after this
}

// upstreamStatus is the status the request was answered with: the one
// written, else the status of the handler error (Caddy writes it later,
// e.g. a reverse_proxy 502), else 200 (an empty answer).
func upstreamStatus(written int, err error) int {
	if written != 0 {
		return written
	}
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// serveNext calls next and, when log is set, writes the allowed decision
// ev with the upstream's status and the time it took to answer. When it
// is not set (audit_allowed sampled the event out), next gets w itself;
// so it does under forward-auth, whose event has no upstream fields.
func (h *Handler) serveNext(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, ev audit.Event, log bool) error {
	if _, check := next.(allowed); check || !log {
		// Forward-auth: next answers the proxy's check, not the upstream,
		// whose answer the gateway never sees.
		if log {
			h.app.emit(ev, audit.AllowAll)
		}
		return next.ServeHTTP(w, r)
	}
	// The event is written when the upstream's status is known (its
	// headers, so a long stream is audited at its start, with the time
	// to that answer), or once next returns without having written one.
	sw := &statusWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, app: h.app, le: loggedEvent{ev: ev}, began: time.Now()}
	err := next.ServeHTTP(sw, r)
	sw.log(upstreamStatus(sw.status, err)) // when next wrote no status
	return err
}

// Interface guards
var _ http.ResponseWriter = (*statusWriter)(nil)
