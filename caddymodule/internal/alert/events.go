// Package alert sends security alerts to webhooks: audit events that an
// operator wants to hear about at once (failed logins, throttled
// clients, refresh-token reuse …) are mapped to alert names by one
// table, batched as CloudEvents 1.0 JSON, signed with HMAC-SHA256 in the
// Standard Webhooks scheme, and posted with retries through a bounded
// queue that never blocks the request that raised them.
//
// The package is plain Go: no Caddy, no zap. The adapter calls
// Dispatcher.Offer from its audit emitter and turns Report values into
// metrics and log lines.
package alert

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

// Name is an alert event name, as configured (`events login_failed …`)
// and as the suffix of the CloudEvents type (`dev.portcullis.<name>`).
type Name string

// Alert event names.
const (
	// LoginFailed is a failed browser login: an OpenID Connect callback
	// that was refused (state, code exchange, ID token, UserInfo …).
	LoginFailed Name = "login_failed"
	// RefreshFailed is a session whose provider tokens could not be
	// refreshed.
	RefreshFailed Name = "refresh_failed"
	// APIKeyThrottled is a client address locked out after too many
	// wrong API keys: one alert when the lockout starts.
	APIKeyThrottled Name = "api_key_throttled"
	// TokenThrottled is a client address locked out after too many bad
	// bearer tokens: one alert when the lockout starts.
	TokenThrottled Name = "token_throttled"
	// ReuseDetected is a refresh token of our authorization server used
	// twice (its family is then revoked): a sign of a stolen token.
	ReuseDetected Name = "reuse_detected"
	// TokenRejected is a presented credential (JWT, API key, session)
	// refused as invalid, expired, revoked, malformed or for another
	// audience or issuer.
	TokenRejected Name = "token_rejected"
	// AccessDenied is an authenticated principal refused by a route's
	// rules (scope, claim, provider, credential type, origin).
	AccessDenied Name = "access_denied"
	// RateLimited is a request refused by a rate-limit zone.
	RateLimited Name = "rate_limited"
	// Unavailable is a request refused because a dependency needed to
	// decide (the store, the identity provider) was down.
	Unavailable Name = "unavailable"
)

// kindLockoutStarted is the audit event the adapter writes when an
// address is locked out after failures; its reason says which kind.
const kindLockoutStarted audit.Kind = "lockout_started"

// rule maps audit events to one alert name: an event matches when its
// kind is one of kinds (any kind when empty), its result is deny when
// denyOnly, and its reason is one of reasons (any reason when empty).
type rule struct {
	name     Name
	kinds    []audit.Kind
	denyOnly bool
	reasons  []string
}

// rules is the one table from audit events to alert names. An event may
// match several rules (a throttled key is not also a rejected token: the
// reasons do not overlap).
var rules = []rule{
	{name: LoginFailed, kinds: []audit.Kind{audit.KindLoginFailed}},
	{name: RefreshFailed, kinds: []audit.Kind{audit.KindRefreshFailed}},
	// One alert per lockout (the adapter's lockout_started event), not
	// one per request refused while it lasts.
	{name: APIKeyThrottled, kinds: []audit.Kind{kindLockoutStarted}, reasons: []string{"api_key_throttled"}},
	{name: TokenThrottled, kinds: []audit.Kind{kindLockoutStarted}, reasons: []string{"token_throttled"}},
	{name: ReuseDetected, reasons: []string{"refresh_token_reused"}},
	{name: TokenRejected, kinds: []audit.Kind{audit.KindDecision}, denyOnly: true, reasons: []string{
		"invalid_credentials", "malformed_credentials", "expired", "revoked", "wrong_audience",
		"issuer_not_accepted", "malformed_identity", "multiple_credentials",
	}},
	{name: AccessDenied, kinds: []audit.Kind{audit.KindDecision}, denyOnly: true, reasons: []string{
		"insufficient_scope", "claim_mismatch", "provider_not_accepted", "method_not_accepted", "origin_not_allowed",
	}},
	{name: RateLimited, kinds: []audit.Kind{audit.KindRateLimited}},
	{name: Unavailable, denyOnly: true, reasons: []string{"unavailable"}},
}

// Set is a set of alert names, one bit per rule.
type Set uint32

// bit returns the bit of name, or 0 when it is unknown.
func bit(name Name) Set {
	for i, r := range rules {
		if r.name == name {
			return 1 << i
		}
	}
	return 0
}

// Names returns every alert name, sorted.
func Names() []Name {
	out := make([]Name, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ParseSet reads configured alert names into a set. An unknown or
// repeated name is an error that lists the known ones.
func ParseSet(names []string) (Set, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("alert: no events named; choose from %s", known())
	}
	var s Set
	for _, n := range names {
		b := bit(Name(n))
		if b == 0 {
			return 0, fmt.Errorf("alert: unknown event %q; choose from %s", n, known())
		}
		if s&b != 0 {
			return 0, fmt.Errorf("alert: event %q is named twice", n)
		}
		s |= b
	}
	return s, nil
}

func known() string {
	var b strings.Builder
	for i, n := range Names() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(n))
	}
	return b.String()
}

// Match returns the alert names an audit event maps to; 0 for most
// events (every allowed decision), so the caller's cost is a few
// comparisons.
func Match(e *audit.Event) Set {
	if e.Result == audit.Allow && e.Kind == audit.KindDecision {
		return 0
	}
	var s Set
	for i, r := range rules {
		if r.denyOnly && e.Result != audit.Deny {
			continue
		}
		if len(r.kinds) > 0 && !slices.Contains(r.kinds, e.Kind) {
			continue
		}
		if len(r.reasons) > 0 && !slices.Contains(r.reasons, e.Reason) {
			continue
		}
		s |= 1 << i
	}
	return s
}

// first returns the first name in s, in table order.
func (s Set) first() (Name, bool) {
	for i, r := range rules {
		if s&(1<<i) != 0 {
			return r.name, true
		}
	}
	return "", false
}
