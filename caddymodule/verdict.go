package caddymodule

import (
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// verdict is a step's decision to stop a request, as a value: why, and
// what to answer. answer is the one place that turns it into HTTP.
type verdict struct {
	// reason feeds the audit event, the metrics and the challenge.
	reason string
	// kind is the audit event kind: a decision unless set.
	kind audit.Kind
	// c is the refusal, with a WWW-Authenticate challenge unless plain.
	c challenge
	// plain answers c with a JSON error and no challenge (a dependency
	// down, a rate limit).
	plain bool
	// login sends a browser navigation to the provider instead.
	login *oidcflow.LoginOptions
	// loginProvider names the provider of that login (a step-up at the
	// session's own provider); empty: the route's, or the chooser.
	loginProvider string
	// limit, when set, is the rate-limit result whose headers go out.
	limit *ratelimit.Result
	// zone is the rate-limit zone that refused.
	zone string
}

// refuse is a verdict that answers with challenge c.
func refuse(reason policy.Reason, c challenge) *verdict {
	return &verdict{reason: string(reason), c: c}
}

// answer records v and writes it.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, ev audit.Event, start time.Time, v verdict) {
	ev.Result, ev.Reason = audit.Deny, v.reason
	switch {
	case v.kind == audit.KindRateLimited:
		// The decision was recorded as allowed; this is its own event.
		ev.Kind, ev.Zone = v.kind, v.zone
		if v.zone != "" {
			h.app.metrics.rateLimited.WithLabelValues(v.zone).Inc()
		}
		h.app.emit(ev, h.sampler)
	default:
		h.record(ev, start)
	}
	if v.limit != nil {
		setRateLimitHeaders(w.Header(), *v.limit)
	}
	if v.c.retryAfter > 0 && v.plain {
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(v.c.retryAfter)))
	}
	switch {
	case v.login != nil:
		h.beginLogin(w, r, ev.RequestID, *v.login, v.loginProvider)
	case v.plain:
		writeJSONError(w, ev.RequestID, v.c.status, v.c.code, v.c.description)
	default:
		c := v.c
		c.html, c.pages = oidcflow.IsBrowserNavigation(r), h.app.pages
		if h.resource != nil && (c.status == http.StatusUnauthorized || c.status == http.StatusForbidden) {
			c.resourceMetadata = h.resource.meta.URL()
		}
		writeChallenge(w, ev.RequestID, h.Realm, c)
	}
}
