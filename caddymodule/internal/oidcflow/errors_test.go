package oidcflow

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/session"
)

// TestReason maps every error class, alone and wrapped as the package
// wraps them, to its machine-readable reason.
func TestReason(t *testing.T) {
	t.Parallel()
	wrap := func(errs ...error) error {
		format := strings.Repeat("%w: ", len(errs)) + "detail"
		args := make([]any, len(errs))
		for i, e := range errs {
			args[i] = e
		}
		return fmt.Errorf(format, args...)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "foreign error", err: errors.New("boom"), want: ReasonInternal},
		{name: "unavailable", err: ErrUnavailable, want: ReasonUnavailable},
		{name: "misconfigured", err: ErrMisconfigured, want: ReasonMisconfigured},
		{name: "issuer mismatch", err: ErrIssuerMismatch, want: ReasonIssuerMismatch},
		{name: "userinfo", err: ErrUserInfo, want: ReasonUserInfo},
		{name: "userinfo down", err: wrap(ErrUserInfo, ErrUnavailable), want: ReasonUserInfoDown},
		{name: "userinfo subject", err: ErrUserInfoSubject, want: ReasonUserInfoSub},
		{name: "userinfo subject wrapped", err: wrap(ErrUserInfoSubject), want: ReasonUserInfoSub},
		{name: "refresh refused", err: wrap(ErrRefreshRefused), want: ReasonRefreshRefused},
		{name: "refresh refused in refresh", err: fmt.Errorf("oidcflow: refresh: %w", wrap(ErrRefreshRefused)), want: ReasonRefreshRefused},
		{name: "refresh transient", err: fmt.Errorf("oidcflow: refresh: %w: %w", wrap(ErrUnavailable), session.ErrRefreshTransient), want: ReasonUnavailable},
		{name: "refresh client refused", err: fmt.Errorf("oidcflow: refresh: %w: %w", wrap(ErrMisconfigured), session.ErrRefreshTransient), want: ReasonMisconfigured},
		{name: "state", err: ErrStateMismatch, want: ReasonStateMismatch},
		{name: "flow expired", err: ErrFlowExpired, want: ReasonFlowExpired},
		{name: "flow replayed", err: ErrFlowReplayed, want: ReasonFlowReplayed},
		{name: "provider", err: &ProviderError{Code: "access_denied"}, want: ReasonProvider},
		{name: "exchange", err: ErrExchange, want: ReasonExchange},
		{name: "nonce", err: ErrNonceMismatch, want: ReasonNonceMismatch},
		{name: "id token", err: ErrIDToken, want: ReasonIDToken},
		{name: "id token keys down", err: wrap(ErrUnavailable), want: ReasonUnavailable},
		{name: "logout replay", err: ErrLogoutReplayed, want: ReasonLogoutReplay},
		{name: "logout token", err: ErrLogoutToken, want: ReasonLogoutToken},
		{name: "no end session", err: ErrNoEndSession, want: ReasonNoEndSession},
		{name: "token client refused", err: wrap(ErrMisconfigured), want: ReasonMisconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Reason(tt.err); got != tt.want {
				t.Fatalf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestErrorsArePrefixed: every sentinel speaks for the package.
func TestErrorsArePrefixed(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrUnavailable, ErrMisconfigured, ErrIssuerMismatch, ErrUserInfo, ErrUserInfoSubject,
		ErrRefreshRefused, ErrStateMismatch, ErrFlowExpired, ErrFlowReplayed, ErrProvider, ErrExchange, ErrIDToken,
		ErrNonceMismatch, ErrLogoutToken, ErrLogoutReplayed, ErrNoEndSession, &ProviderError{Code: "x"}} {
		if !strings.HasPrefix(err.Error(), "oidcflow: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
	if !errors.Is(ErrUserInfoSubject, ErrUserInfo) || !errors.Is(ErrNonceMismatch, ErrIDToken) || !errors.Is(ErrLogoutReplayed, ErrLogoutToken) {
		t.Error("a specific error does not wrap its class")
	}
}

func TestSafeCode(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"access_denied", "access_denied"},
		{"login_required", "login_required"},
		{"Error_42", "Error_42"},
		{"", "invalid"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), "invalid"},
		{"<script>", "invalid"},
		{"access denied", "invalid"},
		{"access-denied", "invalid"},
		{"a\nb", "invalid"},
		{"ünicode", "invalid"},
		{"a\"b", "invalid"},
	}
	for _, tt := range tests {
		if got := safeCode(tt.in); got != tt.want {
			t.Errorf("safeCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTokenEndpointError classifies token endpoint failures without
// their bodies: 5xx and 429 are transient, invalid_client and
// unauthorized_client are a configuration, the rest refuse the grant.
func TestTokenEndpointError(t *testing.T) {
	t.Parallel()
	retrieve := func(status int, code string) error {
		return &oauth2.RetrieveError{
			Response:         &http.Response{StatusCode: status},
			Body:             []byte(`{"error":"` + code + `","error_description":"` + leakMarker + `"}`),
			ErrorCode:        code,
			ErrorDescription: leakMarker,
			ErrorURI:         "https://idp.example/" + leakMarker,
		}
	}
	tests := []struct {
		name    string
		err     error
		class   tokenClass
		wantMsg string
	}{
		{name: "invalid_grant", err: retrieve(400, "invalid_grant"), class: tokenRefused, wantMsg: "answered 400 (error invalid_grant)"},
		{name: "invalid_request", err: retrieve(400, "invalid_request"), class: tokenRefused},
		{name: "invalid_client 401", err: retrieve(401, "invalid_client"), class: tokenClientRefused, wantMsg: "invalid_client"},
		{name: "invalid_client 400", err: retrieve(400, "invalid_client"), class: tokenClientRefused},
		{name: "unauthorized_client", err: retrieve(400, "unauthorized_client"), class: tokenClientRefused},
		{name: "500", err: retrieve(500, "server_error"), class: tokenTransient},
		{name: "503 invalid_client", err: retrieve(503, "invalid_client"), class: tokenTransient},
		{name: "429", err: retrieve(429, "slow_down"), class: tokenTransient},
		{name: "no error code", err: retrieve(400, ""), class: tokenRefused, wantMsg: "(error none)"},
		{name: "junk error code", err: retrieve(400, "<b>"+leakMarker+"</b>"), class: tokenRefused, wantMsg: "(error invalid)"},
		{name: "no response", err: &oauth2.RetrieveError{ErrorCode: "invalid_grant"}, class: tokenRefused, wantMsg: "answered 0"},
		{name: "refused connection", err: &url.Error{Op: "Post", URL: "https://idp.example/token", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, class: tokenTransient, wantMsg: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, class := tokenEndpointError(tt.err)
			if class != tt.class {
				t.Errorf("class = %v, want %v", class, tt.class)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", msg, tt.wantMsg)
			}
			if strings.Contains(msg, leakMarker) || strings.Contains(msg, "Post") {
				t.Errorf("message %q carries the body or the request line", msg)
			}
		})
	}
}

func TestRootCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "misconfigured", err: fmt.Errorf("%w: issuer mismatch", ErrMisconfigured), want: "issuer mismatch"},
		{name: "unavailable", err: fmt.Errorf("%w: discovery answered 503", ErrUnavailable), want: "discovery answered 503"},
		{name: "id token", err: fmt.Errorf("%w: expired", ErrIDToken), want: "expired"},
		{name: "userinfo subject", err: ErrUserInfoSubject, want: "sub differs from the ID token's"},
		{name: "userinfo down", err: fmt.Errorf("%w: %w: UserInfo endpoint answered 503", ErrUserInfo, ErrUnavailable), want: "UserInfo endpoint answered 503"},
		{name: "foreign", err: errors.New("plain"), want: "plain"},
		{name: "first line only", err: fmt.Errorf("%w: one\ntwo", ErrUnavailable), want: "one"},
		{name: "bounded", err: errors.New(strings.Repeat("x", 600)), want: strings.Repeat("x", 500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rootCause(tt.err); got != tt.want {
				t.Fatalf("rootCause = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBearerError(t *testing.T) {
	t.Parallel()
	tests := []struct{ header, want string }{
		{``, ""},
		{`Bearer realm="x"`, ""},
		{`Bearer error="invalid_token"`, " (error invalid_token)"},
		{`Bearer realm="x", error="insufficient_scope", error_description="` + leakMarker + `"`, " (error insufficient_scope)"},
		{`Bearer error="` + leakMarker + ` at-123"`, " (error invalid)"},
		{`Bearer error="unterminated`, " (error unterminated)"},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("WWW-Authenticate", tt.header)
		}
		if got := bearerError(h); got != tt.want {
			t.Errorf("bearerError(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}
