package alert

import (
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    audit.Event
		want Name // "" for no alert
	}{
		{name: "allowed decision", e: audit.Event{Kind: audit.KindDecision, Result: audit.Allow, Reason: "allowed"}},
		{name: "login failed", e: audit.Event{Kind: audit.KindLoginFailed, Result: audit.Deny, Reason: "state_mismatch"}, want: LoginFailed},
		{name: "refresh failed", e: audit.Event{Kind: audit.KindRefreshFailed, Result: audit.Deny, Reason: "invalid_grant"}, want: RefreshFailed},
		{name: "key lockout", e: audit.Event{Kind: "lockout_started", Result: audit.Deny, Reason: "api_key_throttled"}, want: APIKeyThrottled},
		{name: "token lockout", e: audit.Event{Kind: "lockout_started", Result: audit.Deny, Reason: "token_throttled"}, want: TokenThrottled},
		{name: "refused while locked out is no alert", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "api_key_throttled"}},
		{name: "refresh token reused", e: audit.Event{Kind: "oauth_refresh", Result: audit.Deny, Reason: "refresh_token_reused"}, want: ReuseDetected},
		{name: "bad key", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "invalid_credentials"}, want: TokenRejected},
		{name: "expired", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "expired"}, want: TokenRejected},
		{name: "scope", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "insufficient_scope"}, want: AccessDenied},
		{name: "no credentials is no alert", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "no_credentials"}},
		{name: "rate limited", e: audit.Event{Kind: audit.KindRateLimited, Result: audit.Deny, Reason: "rate_limited"}, want: RateLimited},
		{name: "unavailable", e: audit.Event{Kind: audit.KindDecision, Result: audit.Deny, Reason: "unavailable"}, want: Unavailable},
		{name: "login is no alert", e: audit.Event{Kind: audit.KindLogin, Result: audit.Allow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Match(&tt.e).first()
			if tt.want == "" {
				if ok {
					t.Fatalf("Match = %s, want no alert", got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("Match = %q (%v), want %s", got, ok, tt.want)
			}
			if n := Match(&tt.e); n&(n-1) != 0 {
				t.Fatalf("event maps to several alerts: %b", n)
			}
		})
	}
}

func TestParseSet(t *testing.T) {
	t.Parallel()
	s, err := ParseSet([]string{"login_failed", "reuse_detected"})
	if err != nil || s != bit(LoginFailed)|bit(ReuseDetected) {
		t.Fatalf("ParseSet = %b, %v", s, err)
	}
	for _, bad := range [][]string{nil, {"login_faild"}, {"login_failed", "login_failed"}} {
		if _, err := ParseSet(bad); err == nil {
			t.Errorf("ParseSet(%q) accepted", bad)
		}
	}
	if _, err := ParseSet([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "api_key_throttled") {
		t.Fatalf("error does not list the known names: %v", err)
	}
	if len(Names()) != len(rules) {
		t.Fatalf("Names = %v", Names())
	}
}
