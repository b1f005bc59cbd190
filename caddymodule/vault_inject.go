package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/mcp"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/oidcflow"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/request"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/vault"
)

// Audit reasons of a request whose user's upstream token cannot be sent.
const (
	reasonUpstreamNotConnected = "upstream_not_connected"
	reasonUpstreamReconnect    = "upstream_reconnect_required"
	reasonUpstreamUnavailable  = "upstream_unavailable"
	reasonUpstreamNotEligible  = "upstream_not_eligible"
)

// vaultMiss is the inject step's value when the request cannot go on:
// the user has not connected the provider (or must reconnect), the
// principal cannot have connections, or the vault is unavailable.
type vaultMiss struct {
	reason   string
	provider *upstreamProvider
}

// injectUpstream is the vault's part of the forward step, after
// authenticate → authorize → limit: it sets the route's inject header
// to the principal's token for the provider (refreshed when needed),
// or returns why it cannot. Client copies of the header were removed
// before (forward, the identity stripper).
func (h *Handler) injectUpstream(r *http.Request, p principal.Principal, each []policy.Request, ev audit.Event) *vaultMiss {
	in := h.inject
	name := in.provider.cfg.Name
	subject, ok := h.app.vaultSubject(p)
	if !ok {
		return &vaultMiss{reason: reasonUpstreamNotEligible, provider: in.provider}
	}
	c, err := h.app.vault.v.Token(r.Context(), subject, name, in.provider.p)
	switch {
	case err == nil:
	case errors.Is(err, vault.ErrNotConnected), errors.Is(err, vault.ErrReconnect):
		if h.mcpWithoutToken(r, each) {
			// MCP set-up and discovery go on without the header, so a
			// client can connect and list tools before the user connects
			// the provider; a call then gets the connect URL.
			return nil
		}
		if errors.Is(err, vault.ErrReconnect) {
			return &vaultMiss{reason: reasonUpstreamReconnect, provider: in.provider}
		}
		return &vaultMiss{reason: reasonUpstreamNotConnected, provider: in.provider}
	default:
		if c := h.app.logger.Check(zap.WarnLevel, "upstream token unavailable"); c != nil {
			c.Write(zap.String("upstream", name), zap.String("request_id", ev.RequestID), zap.Error(err))
		}
		h.app.vaultStoreError()
		return &vaultMiss{reason: reasonUpstreamUnavailable, provider: in.provider}
	}
	r.Header[in.cfg.Header] = []string{in.prefix + c.AccessToken + in.suffix}
	h.app.countVault(name, "inject", "ok")
	ev.Kind, ev.Result, ev.Reason = kindVaultInject, audit.Allow, ""
	h.app.emitVaultSampled(ev, name, h.sampler)
	return nil
}

// vaultSubject is the user a principal's connections belong to: a
// browser session's (namespaced) subject; the same subject for an access
// token the gateway's own authorization server issued (it signs the
// session's subject, so an MCP client acts for the user who connected);
// the same user's for a JWT from one of the login providers' issuers.
// API keys and other issuers' JWTs have none.
func (a *App) vaultSubject(p principal.Principal) (string, bool) {
	switch p.Method {
	case principal.MethodSession:
		return p.Subject, p.Subject != ""
	case principal.MethodJWT:
		if p.Issuer == "" {
			return "", false
		}
		if a.authServer != nil && p.Issuer == a.authServer.cfg.Issuer {
			return p.Subject, p.Subject != ""
		}
		if a.sso == nil {
			return "", false
		}
		for _, lp := range a.sso.list {
			if lp.cfg.Issuer == p.Issuer {
				return a.sso.subject(lp, p.Subject), p.Subject != ""
			}
		}
	}
	return "", false
}

// answerVaultMiss records and answers a request whose upstream token
// cannot be sent: a browser navigation is sent to the connect page (and
// back); a JSON-RPC request (MCP) gets a JSON-RPC error with code -32042
// (URLElicitationRequiredError, MCP 2025-11-25) naming the connect URL;
// other requests get 403 JSON with the connect URL. A vault that is
// down answers 503.
func (h *Handler) answerVaultMiss(w http.ResponseWriter, r *http.Request, ev audit.Event, m vaultMiss) {
	name := m.provider.cfg.Name
	ev.Kind, ev.Result, ev.Reason = kindVaultMissing, audit.Deny, m.reason
	h.app.emitVault(ev, name)
	h.app.countVault(name, "inject", m.reason)
	rid := ev.RequestID
	switch m.reason {
	case reasonUpstreamUnavailable:
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, rid, http.StatusServiceUnavailable, "temporarily_unavailable", "the upstream credential is unavailable; try again shortly")
		return
	case reasonUpstreamNotEligible:
		writeJSONError(w, rid, http.StatusForbidden, "access_denied", "this route sends your "+m.provider.cfg.label()+" account upstream, which needs a browser sign-in")
		return
	}
	label := m.provider.cfg.label()
	if oidcflow.IsBrowserNavigation(r) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, h.app.connectAction(name)+"?"+urlQuery(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	connect := h.connectURL(r, name, "")
	msg := "Connect your " + label + " account to continue: open " + connect
	if m.reason == reasonUpstreamReconnect {
		msg = "Your " + label + " connection has expired; connect it again: open " + connect
	}
	if id, ok := jsonRPCID(r); ok {
		writeURLElicitation(w, rid, id, connect, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ConnectURL       string `json:"connect_url"`
		Provider         string `json:"provider"`
		RequestID        string `json:"request_id"`
	}{"connection_required", msg, connect, name, rid})
}

// urlQuery is the connect page's query for a return path.
func urlQuery(returnTo string) string {
	if !oidcflow.ValidReturnPath(returnTo) {
		return ""
	}
	return "return_to=" + url.QueryEscape(returnTo)
}

// codeURLElicitationRequired is MCP's URLElicitationRequiredError
// (2025-11-25, client/elicitation, URL mode).
const codeURLElicitationRequired = -32042

// writeURLElicitation answers a JSON-RPC request with
// URLElicitationRequiredError: the client shows message and offers to
// open target, then calls again. HTTP 200 with the JSON-RPC response, as
// the Streamable HTTP transport carries any response to a request.
func writeURLElicitation(w http.ResponseWriter, rid string, id json.RawMessage, target, message string) {
	type elicitation struct {
		Mode          string `json:"mode"`
		ElicitationID string `json:"elicitationId"`
		URL           string `json:"url"`
		Message       string `json:"message"`
	}
	body := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				Elicitations []elicitation `json:"elicitations"`
				RequestID    string        `json:"request_id"`
			} `json:"data"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id}
	body.Error.Code, body.Error.Message = codeURLElicitationRequired, message
	body.Error.Data.Elicitations = []elicitation{{Mode: "url", ElicitationID: rid, URL: target, Message: message}}
	body.Error.Data.RequestID = rid
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// mcpSetupMethods are the MCP methods that need no upstream account:
// the lifecycle and the listings (MCP 2025-11-25); notifications too.
var mcpSetupMethods = map[string]bool{
	"initialize": true, "ping": true, "tools/list": true, "prompts/list": true,
	"resources/list": true, "resources/templates/list": true,
}

// mcpWithoutToken reports whether r is one JSON-RPC message (not a
// batch) whose method is an MCP set-up or discovery method or a
// notification. The message is the one the strict parser read: the
// inspect step's calls (each) on a route whose rules name MCP methods or
// tools, else read now by the same parser; a body it refuses (duplicate
// or case-folded names, a batch, a mismatching Mcp-Method header) is
// never set-up, so the header's absence is never decided on a reading
// the upstream might not share.
func (h *Handler) mcpWithoutToken(r *http.Request, each []policy.Request) bool {
	method := ""
	if h.readsCall {
		if len(each) != 1 {
			return false
		}
		method = each[0].RPCMethod
	} else {
		calls, err := mcp.ReadCalls(r, mcp.DefaultMaxBody)
		if err != nil || len(calls) != 1 {
			return false
		}
		method = calls[0].Method
	}
	if raw, err := request.PeekBody(r, mcp.DefaultMaxBody); err != nil || len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return false // a batch (even of one) or no body: not set-up
	}
	return mcpSetupMethods[method] || strings.HasPrefix(method, "notifications/")
}

// rpcMessage is what the vault reads of a JSON-RPC message.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
}

// jsonRPCMessage reads the single JSON-RPC 2.0 message with a method
// carried by a POST with a JSON body (the body is put back for the
// upstream); false for anything else (batches, other bodies).
func jsonRPCMessage(r *http.Request) (rpcMessage, bool) {
	var msg rpcMessage
	if r.Method != http.MethodPost {
		return msg, false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return msg, false
	}
	raw, err := request.PeekBody(r, mcp.DefaultMaxBody)
	if err != nil || len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return msg, false
	}
	if json.Unmarshal(raw, &msg) != nil || msg.JSONRPC != "2.0" || msg.Method == "" {
		return msg, false
	}
	return msg, true
}

// jsonRPCID returns the id of a single JSON-RPC 2.0 request carried by
// a POST with a JSON body (an MCP call); false for anything else
// (notifications, batches, other bodies).
func jsonRPCID(r *http.Request) (json.RawMessage, bool) {
	msg, ok := jsonRPCMessage(r)
	if !ok || len(msg.ID) == 0 || string(msg.ID) == "null" {
		return nil, false
	}
	if c := msg.ID[0]; c != '"' && c != '-' && (c < '0' || c > '9') {
		return nil, false
	}
	return msg.ID, true
}
