package caddymodule

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

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

// emitAS writes an authorization-server audit event and counts it.
func (h *Handler) emitAS(r *http.Request, rid string, e asEvent) {
	as := h.app.authServer
	reason := e.reason
	if reason == "" {
		reason = "ok"
	}
	as.metrics.events.WithLabelValues(string(e.kind), string(e.result), reason).Inc()
	c := h.app.audit.Check(zap.InfoLevel, string(e.kind))
	if c == nil {
		return
	}
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	fields := []zap.Field{zap.String("event", string(e.kind)), zap.String("result", string(e.result)), zap.String("reason", reason),
		zap.String("request_id", rid), zap.String("client_ip", ip), zap.String("user_agent", audit.CleanUserAgent(r.UserAgent()))}
	str := func(k, v string) {
		if v != "" {
			fields = append(fields, zap.String(k, v))
		}
	}
	str("subject", e.subject)
	if e.subject != "" {
		str("issuer", as.cfg.Issuer)
	}
	str("client_id", audit.CleanUserAgent(e.clientID))
	str("resource", e.resource)
	str("grant_id_hash", authserver.HashRef(e.grant))
	if len(e.scopes) > 0 {
		fields = append(fields, zap.Strings("granted_scopes", e.scopes))
	}
	c.Write(fields...)
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
