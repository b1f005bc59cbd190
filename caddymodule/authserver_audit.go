package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/authserver"
)

// Audit event kinds of the authorization server. Each event names the
// client, the resource, the subject and a hash of the grant; never a
// code, token or secret.
const (
	// KindOAuthAuthorization: an authorization request answered with a
	// code (allow) or refused (deny).
	KindOAuthAuthorization audit.Kind = "oauth_authorization"
	// KindOAuthConsent: a user granted or denied consent on the page.
	KindOAuthConsent audit.Kind = "oauth_consent"
	// KindOAuthToken: an authorization code exchanged for tokens, or refused.
	KindOAuthToken audit.Kind = "oauth_token"
	// KindOAuthRefresh: a refresh token rotated, or refused; reason
	// refresh_token_reused when a rotated token came back and the grant
	// was revoked.
	KindOAuthRefresh audit.Kind = "oauth_refresh"
	// KindOAuthRevocation: a grant revoked through the RFC 7009 endpoint.
	KindOAuthRevocation audit.Kind = "oauth_revocation"
	// KindOAuthRegistration: an RFC 7591 registration, or its refusal.
	KindOAuthRegistration audit.Kind = "oauth_registration"
)

// asEvent is one audit event of the authorization server.
type asEvent struct {
	kind     audit.Kind
	result   audit.Result
	reason   string
	subject  string
	clientID string
	resource string
	scopes   []string
	grant    string // grant id, logged as a hash
}

// emitAS writes an authorization-server audit event (through the app's
// emit, so alerts see it too) and counts it.
func (h *Handler) emitAS(r *http.Request, rid string, e asEvent) {
	as := h.app.authServer
	reason := e.reason
	if reason == "" {
		reason = "ok"
	}
	as.metrics.events.WithLabelValues(string(e.kind), string(e.result), reason).Inc()
	ev := requestEvent(r, e.kind, rid, h.Route)
	ev.Result, ev.Reason, ev.Subject, ev.GrantedScopes = e.result, reason, e.subject, e.scopes
	if e.subject != "" {
		ev.Issuer = as.cfg.Issuer
	}
	ev.ClientID, ev.Resource, ev.GrantIDHash = audit.CleanUserAgent(e.clientID), e.resource, authserver.HashRef(e.grant)
	h.app.emit(ev, audit.AllowAll)
}

// authServerMetrics counts the authorization server's events.
type authServerMetrics struct {
	// events: event (an oauth_* kind), result, reason (fixed sets).
	events *prometheus.CounterVec
}

// newAuthServerMetrics registers the collectors on reg (reusing those a
// previous configuration registered).
func newAuthServerMetrics(reg prometheus.Registerer) (*authServerMetrics, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "authserver_events_total",
		Help: "Events of the MCP authorization server (authorization, consent, token, refresh, revocation, registration) by result and reason.",
	}, []string{"event", "result", "reason"})
	if err := reg.Register(events); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
		events = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return &authServerMetrics{events: events}, nil
}
