package oidcflow

import (
	"errors"
	"testing"
	"time"
)

// TestFlowClock checks the flow's age on the injected clock: FlowTTL
// bounds it, and a flow cookie from the future (the clock stepped back)
// is tolerated by the clock skew only.
func TestFlowClock(t *testing.T) {
	t.Parallel()
	zero := time.Duration(0)
	tests := []struct {
		name string
		skew *time.Duration
		step time.Duration // clock change between StartLogin and Callback
		want error
	}{
		{name: "immediately"},
		{name: "immediately, exact", skew: &zero},
		{name: "a second before the TTL", step: DefaultFlowTTL - time.Second},
		{name: "just after the TTL", step: DefaultFlowTTL + time.Millisecond, want: ErrFlowExpired},
		{name: "clock stepped back 30s", step: -30 * time.Second},
		{name: "clock stepped back 61s", step: -61 * time.Second, want: ErrFlowExpired},
		{name: "clock stepped back 1ms, exact", skew: &zero, step: -time.Millisecond, want: ErrFlowExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = tt.skew })
			red := startLogin(t, c, LoginOptions{})
			q := idp.authorize(t, red.URL, "alice")
			clk.Set(clk.Now().Add(tt.step))
			idp.claimsHook = func(c map[string]any) { // an ID token valid at the new time
				now := clk.Now()
				c["iat"], c["exp"] = now.Unix(), now.Add(time.Hour).Unix()
			}
			_, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Callback error = %v, want %v", err, tt.want)
			}
			if err != nil && Reason(err) != ReasonFlowExpired {
				t.Fatalf("Reason = %q", Reason(err))
			}
		})
	}
}

// TestMaxAgeClock checks auth_time against max_age with the default skew
// and exactly.
func TestMaxAgeClock(t *testing.T) {
	t.Parallel()
	zero := time.Duration(0)
	const maxAge = 5 * time.Minute
	tests := []struct {
		name     string
		skew     *time.Duration
		authTime time.Duration // before now
		ok       bool
	}{
		{name: "within", authTime: time.Minute, ok: true},
		{name: "exactly max_age, exact", skew: &zero, authTime: maxAge, ok: true},
		{name: "a second over, exact", skew: &zero, authTime: maxAge + time.Second},
		{name: "59s over, default skew", authTime: maxAge + 59*time.Second, ok: true},
		{name: "61s over, default skew", authTime: maxAge + 61*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.claimsHook = func(c map[string]any) { c["auth_time"] = clk.Now().Add(-tt.authTime).Unix() }
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = tt.skew })
			red := startLogin(t, c, LoginOptions{MaxAge: maxAge})
			res, err := c.Callback(t.Context(), callbackRequest(idp.authorize(t, red.URL, "alice"), red.SetCookies))
			wantIDTokenResult(t, err, tt.ok)
			if tt.ok && !res.Login.Claims.AuthTime.Equal(clk.Now().Add(-tt.authTime)) {
				t.Fatalf("auth_time = %v", res.Login.Claims.AuthTime)
			}
		})
	}
}

// TestClockSkewConfig: nil means the default, a pointer to 0 means
// exact, a negative skew is refused.
func TestClockSkewConfig(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	zero, two := time.Duration(0), 2*time.Second
	for _, tt := range []struct {
		skew *time.Duration
		want time.Duration
	}{{nil, DefaultClockSkew}, {&zero, 0}, {&two, two}} {
		if c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = tt.skew }); c.skew != tt.want {
			t.Errorf("skew = %v, want %v", c.skew, tt.want)
		}
	}
	neg := -time.Second
	cfg := Config{Issuer: idp.issuer(), ClientID: testClientID, RedirectURL: testRedirectURL, Keys: [][]byte{testKey()},
		Store: newTestClient(t, idp, clk, nil).cfg.Store, ClockSkew: &neg}
	if _, err := New(cfg); err == nil {
		t.Fatal("a negative clock skew was accepted")
	}
}
