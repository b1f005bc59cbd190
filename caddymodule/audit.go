package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

// AuditLoggerName is the Caddy logger that receives audit events; route
// it with a `log` block: `log audit { include portcullis.audit … }`.
const AuditLoggerName = "portcullis.audit"

// emit writes an audit event if the sampler keeps it.
func (a *App) emit(e audit.Event, s audit.Sampler) {
	if !s.Keep(e.Kind, e.Result) {
		return
	}
	c := a.audit.Check(zap.InfoLevel, string(e.Kind))
	if c == nil {
		return
	}
	fields := make([]zap.Field, 0, 16)
	fields = append(fields, zap.String("event", string(e.Kind)), zap.String("result", string(e.Result)))
	str := func(k, v string) {
		if v != "" {
			fields = append(fields, zap.String(k, v))
		}
	}
	strs := func(k string, v []string) {
		if len(v) > 0 {
			fields = append(fields, zap.Strings(k, v))
		}
	}
	str("reason", e.Reason)
	str("request_id", e.RequestID)
	str("subject", e.Subject)
	str("auth_method", e.AuthMethod)
	str("key_id", e.KeyID)
	str("session_id_hash", e.SessionIDHash)
	strs("required_scopes", e.RequiredScopes)
	strs("granted_scopes", e.GrantedScopes)
	str("route", e.Route)
	str("method", e.Method)
	str("path", e.Path)
	str("client_ip", e.ClientIP)
	str("user_agent", e.UserAgent)
	str("zone", e.Zone)
	c.Write(fields...)
}

// requestEvent fills the request fields of an audit event.
func requestEvent(r *http.Request, kind audit.Kind, requestID, route string) audit.Event {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return audit.Event{
		Kind: kind, RequestID: requestID, Route: route, Method: r.Method,
		Path: audit.CleanPath(r.URL.Path), ClientIP: ip, UserAgent: audit.CleanUserAgent(r.UserAgent()),
	}
}

// withPrincipal fills the identity fields of an audit event.
func withPrincipal(e audit.Event, p principal.Principal) audit.Event {
	e.Subject, e.AuthMethod, e.KeyID, e.GrantedScopes = p.Subject, string(p.Method), p.KeyID, p.Scopes
	return e
}
