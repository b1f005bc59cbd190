package providercheck

import (
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestJWTIssuers(t *testing.T) {
	t.Parallel()
	f := startFakeIDP(t, func(f *fakeIDP) { f.keys = []jose.JSONWebKey{rsaJWK(t, "r1", "RS256"), ecJWK(t, "e1")} })
	tests := []struct {
		name  string
		j     JWTIssuer
		wants []want
		fail  bool
	}{
		{"discovery", JWTIssuer{Issuer: f.issuer(), Algorithms: []string{"RS256", "ES256"}},
			[]want{{"discovery", OK, "byte for byte"}, {"jwks", OK, "2 usable keys: RSA-2048 RS256 kid=r1, EC-P-256 ES256 kid=e1"}, {"algorithms", OK, "verify RS256 ES256"}}, false},
		{"jwks_uri", JWTIssuer{Issuer: "https://tokens.example.com", JWKSURI: f.issuer() + "/keys", Algorithms: []string{"RS256", "ES256"}},
			[]want{{"jwks", OK, "2 usable keys"}}, false},
		{"a key's algorithm not allowed", JWTIssuer{Issuer: f.issuer(), Algorithms: []string{"RS256"}},
			[]want{{"algorithms", Warn, "EC-P-256 ES256 kid=e1 would be refused"}}, false},
		{"no key fits", JWTIssuer{Issuer: f.issuer(), Algorithms: []string{"PS384x", "ES384"}},
			[]want{{"algorithms", Fail, "no key fits"}}, true},
		{"shared secret only", JWTIssuer{Issuer: "https://hs.example.com", Algorithms: []string{"HS256"}},
			[]want{{"keys", Skip, "no keys to fetch"}}, false},
		{"trailing slash", JWTIssuer{Issuer: f.issuer() + "/", Algorithms: []string{"RS256"}},
			[]want{{"issuer", Fail, "only a trailing slash differs"}, {"jwks", Skip, ""}}, true},
		{"jwks 404", JWTIssuer{Issuer: "https://tokens.example.com", JWKSURI: f.issuer() + "/nokeys", Algorithms: []string{"RS256"}},
			[]want{{"jwks", Fail, "404"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := runCheck(t, Config{JWT: []JWTIssuer{tt.j}})
			for _, w := range tt.wants {
				r := find(t, rep, w.check)
				if r.Status != w.status || !strings.Contains(r.Detail, w.detail) || r.Component != "jwt "+tt.j.Issuer {
					t.Errorf("%s: got %s %s %q, want %s containing %q\n%s", w.check, r.Component, r.Status, r.Detail, w.status, w.detail, text(t, rep))
				}
			}
			if rep.Failed() != tt.fail {
				t.Errorf("Failed() = %v, want %v\n%s", rep.Failed(), tt.fail, text(t, rep))
			}
		})
	}
}
