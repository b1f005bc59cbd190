package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/clientreg"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/credential"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// TestAttackReview2_GatewayTokenScopesNotWidenedByGrants: an access
// token of the gateway's own authorization server carries exactly the
// scopes the user consented to; the app's grants (which map claims such
// as email_verified, copied into the token, to scopes) must not add
// scopes the consent page never showed.
func TestAttackReview2_GatewayTokenScopesNotWidenedByGrants(t *testing.T) {
	t.Parallel()
	app := authzApp()
	if err := app.compile(); err != nil {
		t.Fatal(err)
	}
	app.authServer = &authServer{cfg: AuthorizationServerConfig{Issuer: "https://gw.example"}}
	h := &Handler{app: app}
	gw := principal.Principal{Method: principal.MethodJWT, Issuer: "https://gw.example", Subject: "alice",
		Scopes: []string{"orders:write"}, Claims: map[string]any{"email_verified": true}}
	got := h.effective(gw).Scopes
	if slices.Contains(got, "reports:read") {
		t.Fatalf("gateway token scopes %v: a grant added reports:read beyond the consent", got)
	}
	if !slices.Contains(got, "orders:read") {
		t.Fatalf("gateway token scopes %v: implications must still apply", got)
	}
	other := gw
	other.Issuer = "https://idp.example"
	if got := h.effective(other).Scopes; !slices.Contains(got, "reports:read") {
		t.Fatalf("other issuer's token scopes %v: grants must still apply", got)
	}
}

// TestAttackReview2_RegistrationFloodIsLimited: RFC 7591 registration is
// unauthenticated and each registration is stored for 30 days, so one
// client address must not be able to register without limit (the
// store, shared with sessions, would grow without bound).
func TestAttackReview2_RegistrationFloodIsLimited(t *testing.T) {
	t.Parallel()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := clientreg.New(clientreg.Options{Store: mem, DynamicRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newAuthServerMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	as := &authServer{cfg: AuthorizationServerConfig{Issuer: "https://gw.example"}, clients: reg, metrics: m}
	as.registerLimiter = newRegisterLimiter()
	app := &App{authServer: as, audit: zap.NewNop()}
	h := &Handler{app: app}
	body := `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`
	created := 0
	for range 1000 {
		r := httptest.NewRequest(http.MethodPost, "/.portcullis/oauth/register", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"}))
		w := httptest.NewRecorder()
		h.serveRegister(w, r, "rid")
		if w.Code == http.StatusCreated {
			created++
		}
	}
	if created >= 1000 {
		t.Fatalf("one address registered %d clients: registration is not limited", created)
	}
	// Another address is not affected.
	r := httptest.NewRequest(http.MethodPost, "/.portcullis/oauth/register", strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "198.51.100.9"}))
	w := httptest.NewRecorder()
	h.serveRegister(w, r, "rid")
	if w.Code != http.StatusCreated {
		t.Fatalf("another address: status %d: %s", w.Code, w.Body)
	}
}

// TestAttackReview2_LockoutIPv6Rotation: one IPv6 host holds a whole /64,
// so a lockout per address is bypassed by changing the interface
// identifier between guesses; failures from one /64 count together.
func TestAttackReview2_LockoutIPv6Rotation(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, Handler{})
	clock := fakeclock.New()
	withFailures(t, h, &FailuresConfig{Limit: "3/1m", Lockout: caddy.Duration(time.Minute)}, clock)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := range 3 {
		h.noteFailure(r, credential.APIKey, fmt.Sprintf("2001:db8:1:2::%x", i+1), policy.ReasonInvalidCredentials)
	}
	if v := h.lockedOut(r.Context(), credential.APIKey, "2001:db8:1:2::ffff"); v == nil {
		t.Fatal("an address in the same /64 as three failures is not locked out")
	}
	if v := h.lockedOut(r.Context(), credential.APIKey, "2001:db8:1:3::1"); v != nil {
		t.Fatal("another /64 is locked out")
	}
	for i := range 3 {
		h.noteFailure(r, credential.APIKey, "192.0.2.1", policy.ReasonInvalidCredentials)
		_ = i
	}
	if v := h.lockedOut(r.Context(), credential.APIKey, "192.0.2.2"); v != nil {
		t.Fatal("an IPv4 neighbour is locked out")
	}
	if v := h.lockedOut(r.Context(), credential.APIKey, "::ffff:192.0.2.1"); v == nil {
		t.Fatal("the IPv4-mapped form of a locked-out address is not locked out")
	}
}

// TestAttackReview2_GatewayTokenOnlyOnItsResource: an access token of the
// gateway's authorization server is audience-restricted to the resource
// the user consented to (RFC 8707); a route that serves no resource
// (say one that injects the user's upstream account) must not accept
// it, or any client the user let read one resource could use every
// other route as the user.
func TestAttackReview2_GatewayTokenOnlyOnItsResource(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, Handler{})
	h.app.authServer = &authServer{cfg: AuthorizationServerConfig{Issuer: "https://gw.example"}}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	gw := principal.Principal{Method: principal.MethodJWT, Issuer: "https://gw.example", Subject: "alice",
		Audience: []string{"https://gw.example/notes"}, Scopes: []string{"notes:read"}}
	var ev audit.Event
	if v := h.authorize(r, gw, nil, &ev); v == nil {
		t.Fatal("a route that serves no resource accepted the gateway's access token for another resource")
	}
}
