package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
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
	a.write(&loggedEvent{ev: e})
}

// loggedEvent is an event and the zap field that writes it, in one
// allocation. Sinks may keep the field (Caddy buffers early logs), so a
// loggedEvent is written once and never changed afterwards.
type loggedEvent struct {
	ev     audit.Event
	fields [1]zap.Field
}

// write offers the event to the alerts and writes it to the audit log.
func (a *App) write(le *loggedEvent) {
	a.alerts.Offer(&le.ev) // nil without alerts; never blocks, keeps no reference
	c := a.audit.Check(zap.InfoLevel, string(le.ev.Kind))
	if c == nil {
		return
	}
	// One inline object rather than a slice of fields: this runs for
	// every decision.
	le.fields[0] = zap.Inline((*eventFields)(&le.ev))
	c.Write(le.fields[:]...)
}

// eventFields writes an audit event's fields, leaving out empty ones.
type eventFields audit.Event

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (e *eventFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("event", string(e.Kind))
	enc.AddString("result", string(e.Result))
	str := func(k, v string) {
		if v != "" {
			enc.AddString(k, v)
		}
	}
	strs := func(k string, v *[]string) {
		if len(*v) > 0 {
			_ = enc.AddArray(k, (*stringList)(v))
		}
	}
	str("reason", e.Reason)
	str("request_id", e.RequestID)
	str("subject", e.Subject)
	str("auth_method", e.AuthMethod)
	str("issuer", e.Issuer)
	str("key_id", e.KeyID)
	str("session_id_hash", e.SessionIDHash)
	strs("required_scopes", &e.RequiredScopes)
	strs("granted_scopes", &e.GrantedScopes)
	str("route", e.Route)
	str("method", e.Method)
	str("path", e.Path)
	str("client_ip", e.ClientIP)
	str("user_agent", e.UserAgent)
	str("zone", e.Zone)
	str("rpc_method", e.RPCMethod)
	str("tool", e.Tool)
	if e.Calls > 0 {
		enc.AddInt("rpc_calls", e.Calls)
	}
	str("client_id", e.ClientID)
	str("resource", e.Resource)
	str("grant_id_hash", e.GrantIDHash)
	if e.UpstreamStatus > 0 {
		enc.AddInt("upstream_status", e.UpstreamStatus)
		enc.AddInt64("upstream_ms", e.UpstreamMS)
	}
	return nil
}

// stringList writes a list of strings as a JSON array.
type stringList []string

// MarshalLogArray implements zapcore.ArrayMarshaler.
func (l *stringList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, s := range *l {
		enc.AppendString(s)
	}
	return nil
}

// requestEvent fills the request fields of an audit event.
func requestEvent(r *http.Request, kind audit.Kind, requestID, route string) audit.Event {
	return requestEventIn(requestVars(r), r, kind, requestID, route)
}

// requestEventIn is requestEvent with the request's variables at hand.
func requestEventIn(vars map[string]any, r *http.Request, kind audit.Kind, requestID, route string) audit.Event {
	ip, _ := vars[caddyhttp.ClientIPVarKey].(string)
	return audit.Event{
		Kind: kind, RequestID: requestID, Route: route, Method: r.Method,
		Path: audit.CleanPath(r.URL.Path), ClientIP: ip, UserAgent: audit.CleanUserAgent(r.UserAgent()),
	}
}

// withCalls fills the MCP fields of an audit event from the calls the
// inspect step read: the method and tool name, never a parameter.
func withCalls(e *audit.Event, each []policy.Request) {
	if len(each) == 0 {
		return
	}
	e.RPCMethod, e.Tool = audit.CleanName(each[0].RPCMethod), audit.CleanName(each[0].Tool)
	if len(each) > 1 {
		e.Calls = len(each)
	}
}

// withPrincipal fills the identity fields of an audit event.
func withPrincipal(e audit.Event, p principal.Principal) audit.Event {
	e.Subject, e.AuthMethod, e.KeyID, e.GrantedScopes = p.Subject, string(p.Method), p.KeyID, p.Scopes
	e.Issuer = p.Issuer
	return e
}
