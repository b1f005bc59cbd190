package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestChallengeErrorCodes: WWW-Authenticate carries only the error codes
// RFC 6750 section 3.1 (and RFC 9470) define for resource servers; a 403
// for a claim the route requires or an origin it refuses has a challenge
// without an error attribute, and the JSON body keeps the precise code.
func TestChallengeErrorCodes(t *testing.T) {
	t.Parallel()
	ti := newTestIssuer(t)
	h, _ := newJWTHandler(t, []JWTIssuerConfig{ti.config("")}, Handler{
		Require:        []RequireConfig{{Scopes: []string{"orders:read"}}, {Scopes: []string{"orders:write"}, Methods: []string{"POST"}}},
		RequireClaims:  []ClaimConfig{{Claim: "department", Values: []string{"sales"}}},
		AllowedOrigins: []string{"https://app.example"},
	})
	tests := []struct {
		name      string
		method    string
		headers   map[string][]string
		status    int
		wantError string // the challenge's error attribute, "" for none
		wantBody  string
	}{
		{name: "claim mismatch", headers: bearer(ti.mint(t, map[string]any{"department": "marketing"})), status: 403, wantBody: "access_denied"},
		{name: "claim missing", headers: bearer(ti.mint(t, nil)), status: 403, wantBody: "access_denied"},
		{name: "origin refused", headers: map[string][]string{"Origin": {"https://evil.example"}}, status: 403, wantBody: "access_denied"},
		{name: "insufficient scope keeps its code", method: "POST", headers: bearer(ti.mint(t, map[string]any{"department": "sales"})),
			status: 403, wantError: "insufficient_scope", wantBody: "insufficient_scope"},
		{name: "invalid token keeps its code", headers: bearer(ti.mint(t, map[string]any{"aud": "other"})), status: 401,
			wantError: "invalid_token", wantBody: "invalid_token"},
		{name: "allowed", headers: bearer(ti.mint(t, map[string]any{"department": "sales"})), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			w, up := serve(t, h, method, tt.headers)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				if !up.called {
					t.Fatal("upstream not called")
				}
				return
			}
			wa := w.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, `Bearer realm="portcullis"`) {
				t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", wa)
			}
			switch {
			case tt.wantError == "" && strings.Contains(wa, "error="):
				t.Fatalf("WWW-Authenticate = %q, want no error attribute", wa)
			case tt.wantError != "" && !strings.Contains(wa, `error="`+tt.wantError+`"`):
				t.Fatalf("WWW-Authenticate = %q, want error=%q", wa, tt.wantError)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tt.wantBody {
				t.Fatalf("body %s, want error %q", w.Body, tt.wantBody)
			}
		})
	}
}

func TestBearerErrorCodeOnly(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"invalid_request": true, "invalid_token": true, "insufficient_scope": true, "insufficient_user_authentication": true,
		"access_denied": false, "temporarily_unavailable": false, "server_error": false, "": false,
	} {
		w := httptest.NewRecorder()
		writeChallenge(w, "rid", "r", challenge{status: http.StatusForbidden, code: code, description: "d"})
		if got := strings.Contains(w.Header().Get("WWW-Authenticate"), "error="); got != want {
			t.Errorf("code %q: error attribute present = %v, want %v (%s)", code, got, want, w.Header().Get("WWW-Authenticate"))
		}
	}
}
