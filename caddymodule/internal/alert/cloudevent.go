package alert

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// TypePrefix prefixes the CloudEvents type of every alert:
// `dev.portcullis.login_failed` …
const TypePrefix = "dev.portcullis."

// BatchContentType is the media type of a CloudEvents JSON batch
// (CloudEvents JSON Event Format 1.0, §4).
const BatchContentType = "application/cloudevents-batch+json"

// CloudEvent is one alert in CloudEvents 1.0 structured JSON form.
type CloudEvent struct {
	// SpecVersion is always "1.0".
	SpecVersion string `json:"specversion"`
	// ID is unique per event (random, 128 bits); a receiver that sees
	// the same id twice (a retried batch) has seen the same alert.
	ID string `json:"id"`
	// Source names the gateway that saw the event (the webhook's source).
	Source string `json:"source"`
	// Type is TypePrefix + the alert name.
	Type string `json:"type"`
	// Time is when the gateway saw the event (RFC 3339).
	Time time.Time `json:"time"`
	// Subject is the principal's subject, when there is one.
	Subject string `json:"subject,omitempty"`
	// DataContentType is always application/json.
	DataContentType string `json:"datacontenttype"`
	// Data holds the audit event's fields.
	Data Data `json:"data"`
}

// Data is the payload of an alert: the audit event's fields, with the
// same names as in the audit log. Audit events never carry a token,
// cookie, key, secret or query string; the session id and grant id
// hashes are left out too, so an alert receiver holds no handle on a
// live session or grant.
type Data struct {
	Event          string   `json:"event"`
	Result         string   `json:"result"`
	Reason         string   `json:"reason,omitempty"`
	RequestID      string   `json:"request_id,omitempty"`
	Subject        string   `json:"subject,omitempty"`
	AuthMethod     string   `json:"auth_method,omitempty"`
	Issuer         string   `json:"issuer,omitempty"`
	KeyID          string   `json:"key_id,omitempty"`
	RequiredScopes []string `json:"required_scopes,omitempty"`
	GrantedScopes  []string `json:"granted_scopes,omitempty"`
	Route          string   `json:"route,omitempty"`
	Method         string   `json:"method,omitempty"`
	Path           string   `json:"path,omitempty"`
	ClientIP       string   `json:"client_ip,omitempty"`
	UserAgent      string   `json:"user_agent,omitempty"`
	Zone           string   `json:"zone,omitempty"`
	RPCMethod      string   `json:"rpc_method,omitempty"`
	Tool           string   `json:"tool,omitempty"`
	// ClientID and Resource name the OAuth client and the resource of
	// an authorization-server event (reuse_detected).
	ClientID string `json:"client_id,omitempty"`
	Resource string `json:"resource,omitempty"`
}

// newCloudEvent builds the CloudEvent of an alert.
func newCloudEvent(source string, name Name, at time.Time, e audit.Event) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: randomID(), Source: source, Type: TypePrefix + string(name),
		Time: at.UTC(), Subject: e.Subject, DataContentType: "application/json",
		Data: Data{
			Event: string(e.Kind), Result: string(e.Result), Reason: e.Reason, RequestID: e.RequestID,
			Subject: e.Subject, AuthMethod: e.AuthMethod, Issuer: e.Issuer, KeyID: e.KeyID,
			RequiredScopes: e.RequiredScopes, GrantedScopes: e.GrantedScopes, Route: e.Route,
			Method: e.Method, Path: e.Path, ClientIP: e.ClientIP, UserAgent: e.UserAgent,
			Zone: e.Zone, RPCMethod: e.RPCMethod, Tool: e.Tool, ClientID: e.ClientID, Resource: e.Resource,
		},
	}
}

// randomID returns 128 random bits in hex.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
