package oidcflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// encodeAll percent-encodes every byte of s (a legal, if unusual,
// encoding of the same value).
func encodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// TestCallbackIssuerParameter is the RFC 9207 corpus: the callback's
// `iss`, once decoded from the query, must equal the issuer exactly;
// it is required when the provider advertises it, and it is checked
// before the response's error or code (no code is exchanged otherwise).
func TestCallbackIssuerParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		advertised bool
		// iss returns the raw query parts for iss (already encoded);
		// nil: none.
		iss       func(issuer string) []string
		errorResp bool // the provider answers error=access_denied
		want      error
	}{
		{name: "absent, not advertised"},
		{name: "absent, advertised", advertised: true, want: ErrIssuerMismatch},
		{name: "exact, not advertised", iss: one(url.QueryEscape)},
		{name: "exact, advertised", advertised: true, iss: one(url.QueryEscape)},
		{name: "exact, every byte percent-encoded", advertised: true, iss: one(encodeAll)},
		{name: "exact, not encoded at all", advertised: true, iss: one(func(s string) string { return s })},
		{name: "duplicate, both exact", advertised: true, iss: func(s string) []string {
			return []string{"iss=" + url.QueryEscape(s), "iss=" + url.QueryEscape(s)}
		}, want: ErrIssuerMismatch},
		{name: "duplicate, one other", iss: func(s string) []string {
			return []string{"iss=" + url.QueryEscape(s), "iss=" + url.QueryEscape("https://evil.example")}
		}, want: ErrIssuerMismatch},
		{name: "duplicate, other first", iss: func(s string) []string {
			return []string{"iss=" + url.QueryEscape("https://evil.example"), "iss=" + url.QueryEscape(s)}
		}, want: ErrIssuerMismatch},
		{name: "empty", iss: func(string) []string { return []string{"iss="} }, want: ErrIssuerMismatch},
		{name: "name only", iss: func(string) []string { return []string{"iss"} }, want: ErrIssuerMismatch},
		{name: "different provider", advertised: true, iss: fixedIss("https://evil.example"), want: ErrIssuerMismatch},
		{name: "different provider, not advertised", iss: fixedIss("https://evil.example"), want: ErrIssuerMismatch},
		{name: "trailing slash", advertised: true, iss: edited(func(s string) string { return s + "/" }), want: ErrIssuerMismatch},
		{name: "scheme case changed", advertised: true, iss: edited(func(s string) string { return strings.Replace(s, "http://", "HTTP://", 1) }), want: ErrIssuerMismatch},
		{name: "https instead of http", advertised: true, iss: edited(func(s string) string { return strings.Replace(s, "http://", "https://", 1) }), want: ErrIssuerMismatch},
		{name: "percent-encoded value (double encoding)", advertised: true, iss: one(func(s string) string { return url.QueryEscape(url.QueryEscape(s)) }), want: ErrIssuerMismatch},
		{name: "percent-encoded colon in value", advertised: true, iss: edited(func(s string) string { return strings.Replace(s, "://", "%3A//", 1) }), want: ErrIssuerMismatch},
		{name: "default port added", advertised: true, iss: edited(func(s string) string { return s + ":80" }), want: ErrIssuerMismatch},
		{name: "trailing space", advertised: true, iss: edited(func(s string) string { return s + " " }), want: ErrIssuerMismatch},
		{name: "leading space", advertised: true, iss: edited(func(s string) string { return " " + s }), want: ErrIssuerMismatch},
		{name: "path added", advertised: true, iss: edited(func(s string) string { return s + "/other" }), want: ErrIssuerMismatch},
		{name: "NUL appended", advertised: true, iss: edited(func(s string) string { return s + "\x00" }), want: ErrIssuerMismatch},

		{name: "error response, exact iss", advertised: true, iss: one(url.QueryEscape), errorResp: true, want: ErrProvider},
		{name: "error response, absent iss, not advertised", errorResp: true, want: ErrProvider},
		{name: "error response, absent iss, advertised", advertised: true, errorResp: true, want: ErrIssuerMismatch},
		{name: "error response, other iss", iss: fixedIss("https://evil.example"), errorResp: true, want: ErrIssuerMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.iss9207 = tt.advertised
			c := newTestClient(t, idp, clk, nil)
			red := startLogin(t, c, LoginOptions{})
			q := idp.authorize(t, red.URL, "alice")
			parts := []string{"state=" + url.QueryEscape(q.Get("state"))}
			if tt.errorResp {
				parts = append(parts, "error=access_denied")
			} else {
				parts = append(parts, "code="+url.QueryEscape(q.Get("code")))
			}
			if tt.iss != nil {
				parts = append(parts, tt.iss(idp.issuer())...)
			}
			r := httptest.NewRequest(http.MethodGet, testRedirectURL+"?"+strings.Join(parts, "&"), nil)
			for _, ck := range red.SetCookies {
				r.AddCookie(ck)
			}
			res, err := c.Callback(t.Context(), r)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Callback: %v", err)
				}
				if res.Login.Subject != "alice" {
					t.Fatalf("login = %+v", res.Login)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Callback error = %v, want %v", err, tt.want)
			}
			if tt.want == ErrIssuerMismatch {
				if Reason(err) != ReasonIssuerMismatch {
					t.Errorf("Reason = %q", Reason(err))
				}
				if errors.Is(err, ErrProvider) {
					t.Error("a mixed-up error response was processed")
				}
				if n := idp.tokenHits.Load(); n != 0 {
					t.Errorf("the code was sent to the token endpoint %d times after an issuer mismatch", n)
				}
				assertNoSecret(t, "error", err.Error(), []string{q.Get("code"), q.Get("state"), "evil.example"})
			}
		})
	}
}

// one returns the iss part with the issuer encoded by enc.
func one(enc func(string) string) func(string) []string {
	return func(s string) []string { return []string{"iss=" + enc(s)} }
}

// fixedIss returns the iss part naming v.
func fixedIss(v string) func(string) []string {
	return func(string) []string { return []string{"iss=" + url.QueryEscape(v)} }
}

// edited returns the iss part naming edit(issuer).
func edited(edit func(string) string) func(string) []string {
	return func(s string) []string { return []string{"iss=" + url.QueryEscape(edit(s))} }
}

// TestCallbackIssuerParameterFromFake: the fake provider's own RFC 9207
// responses complete, advertised or not.
func TestCallbackIssuerParameterFromFake(t *testing.T) {
	t.Parallel()
	for _, adv := range []bool{true, false} {
		t.Run(fmt.Sprint("advertised=", adv), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.iss9207, idp.sendIss = adv, true
			c := newTestClient(t, idp, clk, nil)
			red := startLogin(t, c, LoginOptions{})
			q := idp.authorize(t, red.URL, "alice")
			if q.Get("iss") != idp.issuer() {
				t.Fatalf("the fake sent iss %q", q.Get("iss"))
			}
			if _, err := c.Callback(t.Context(), callbackRequest(q, red.SetCookies)); err != nil {
				t.Fatalf("Callback: %v", err)
			}
		})
	}
}
