package jwtauth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/principal"
)

func TestVerifyValidTokens(t *testing.T) {
	t.Parallel()
	rs := newRSAKey(t, "rs", "RS256", 0)
	ps := newRSAKey(t, "ps", "PS256", 1)
	es := newECKey(t, "es")
	ed := newEdKey(t, "ed")
	idp := newFakeIdP(t, rs.jwk(true, true), ps.jwk(true, true), es.jwk(true, false), ed.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock)
	tests := []struct {
		name string
		key  signingKey
	}{
		{name: "RS256", key: rs},
		{name: "PS256", key: ps},
		{name: "ES256", key: es},
		{name: "EdDSA", key: ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := claimsAt(idp.issuer(), clock.Now())
			c["email"] = "a@example.com"
			c["name"] = "Ada"
			c["groups"] = []string{"admins", "ops"}
			c["azp"] = "cli"
			c["acr"] = "urn:mfa"
			c["amr"] = []string{"pwd", "otp"}
			c["auth_time"] = clock.Now().Add(-time.Minute).Unix()
			p, err := v.Verify(context.Background(), mint(t, tt.key, c, nil))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := principal.Principal{
				Subject: "user-1", Method: principal.MethodJWT, Name: "Ada", Email: "a@example.com",
				Scopes: []string{"orders:read", "orders:write"}, Groups: []string{"admins", "ops"},
				Issuer: idp.issuer(), Audience: []string{testAudience}, ClientID: "cli",
				ExpiresAt: clock.Now().Add(time.Hour), AuthTime: clock.Now().Add(-time.Minute),
				ACR: "urn:mfa", AMR: []string{"pwd", "otp"},
			}
			got := p
			got.Claims = nil
			if !principalEqual(got, want) {
				t.Fatalf("principal = %+v\nwant %+v", got, want)
			}
			if p.Claims["email"] != "a@example.com" {
				t.Fatalf("Claims not carried: %v", p.Claims)
			}
		})
	}
}

func principalEqual(a, b principal.Principal) bool {
	return a.Subject == b.Subject && a.Method == b.Method && a.Name == b.Name && a.Email == b.Email &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Groups, b.Groups) && a.Issuer == b.Issuer &&
		slices.Equal(a.Audience, b.Audience) && a.ClientID == b.ClientID && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.AuthTime.Equal(b.AuthTime) && a.ACR == b.ACR && slices.Equal(a.AMR, b.AMR)
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	rs := newRSAKey(t, "rs", "RS256", 0)
	other := newRSAKey(t, "rs", "RS256", 1) // same kid, key the IdP does not publish
	es := newECKey(t, "es")
	idp := newFakeIdP(t, rs.jwk(true, false), es.jwk(true, true))
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.Issuers[0].RequiredClaims = map[string]any{"email_verified": true}
	})
	iss := idp.issuer()
	now := clock.Now()
	valid := func() map[string]any {
		c := claimsAt(iss, now)
		c["email_verified"] = true
		return c
	}
	with := func(name string, val any) map[string]any {
		c := valid()
		if val == nil {
			delete(c, name)
		} else {
			c[name] = val
		}
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rs.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := mint(t, rs, valid(), nil)
	segs := strings.Split(good, ".")
	hdr := func(h string) string { return signRaw(t, rs, h, mustJSON(t, valid())) }

	tests := []struct {
		name   string
		token  string
		want   error
		reason Reason
	}{
		{name: "alg none", token: enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + segs[1] + ".", want: ErrUnsupportedAlg, reason: ReasonAlgNone},
		{name: "alg None with signature", token: enc.EncodeToString([]byte(`{"alg":"None","kid":"rs"}`)) + "." + segs[1] + "." + segs[2], want: ErrUnsupportedAlg, reason: ReasonAlgNone},
		{name: "HS256 with RSA public key PEM", token: mint(t, signingKey{kid: "rs", alg: "HS256", hs: pubPEM}, valid(), nil), want: ErrUnsupportedAlg, reason: ReasonAlgNotAllowed},
		{name: "HS256 with RSA public key DER", token: mint(t, signingKey{kid: "rs", alg: "HS256", hs: pubDER}, valid(), nil), want: ErrUnsupportedAlg, reason: ReasonAlgNotAllowed},
		{name: "alg not on allow-list", token: mint(t, signingKey{kid: "rs", alg: "RS384", key: rs.key}, valid(), nil), want: ErrUnsupportedAlg, reason: ReasonAlgNotAllowed},
		{name: "unknown alg", token: hdr(`{"alg":"XX999","kid":"rs"}`), want: ErrUnsupportedAlg, reason: ReasonAlgNotAllowed},
		{name: "wrong iss", token: mint(t, rs, with("iss", "https://evil.example.com"), nil), want: ErrIssuer, reason: ReasonUntrustedIssuer},
		{name: "missing iss", token: mint(t, rs, with("iss", nil), nil), want: ErrIssuer, reason: ReasonUntrustedIssuer},
		{name: "iss with trailing slash", token: mint(t, rs, with("iss", iss+"/"), nil), want: ErrIssuer, reason: ReasonUntrustedIssuer},
		{name: "wrong aud", token: mint(t, rs, with("aud", "https://other.example.com"), nil), want: ErrAudience, reason: ReasonBadAudience},
		{name: "wrong aud list", token: mint(t, rs, with("aud", []string{"a", "b"}), nil), want: ErrAudience, reason: ReasonBadAudience},
		{name: "missing aud", token: mint(t, rs, with("aud", nil), nil), want: ErrAudience, reason: ReasonBadAudience},
		{name: "aud not strings", token: mint(t, rs, with("aud", []any{testAudience, 3}), nil), want: ErrAudience, reason: ReasonBadAudience},
		{name: "expired", token: mint(t, rs, with("exp", now.Add(-2*time.Minute).Unix()), nil), want: ErrExpired, reason: ReasonExpired},
		{name: "nbf in the future", token: mint(t, rs, with("nbf", now.Add(2*time.Minute).Unix()), nil), want: ErrNotYetValid, reason: ReasonNotYetValid},
		{name: "iat in the future", token: mint(t, rs, with("iat", now.Add(2*time.Minute).Unix()), nil), want: ErrNotYetValid, reason: ReasonIssuedInFuture},
		{name: "missing exp", token: mint(t, rs, with("exp", nil), nil), want: ErrClaims, reason: ReasonMissingExpiry},
		{name: "exp not a number", token: mint(t, rs, with("exp", "tomorrow"), nil), want: ErrMalformed, reason: ReasonMalformed},
		{name: "exp huge", token: mint(t, rs, with("exp", 1e300), nil), want: ErrMalformed, reason: ReasonMalformed},
		{name: "unknown kid", token: mint(t, signingKey{kid: "nope", alg: "RS256", key: other.key}, valid(), nil), want: ErrSignature, reason: ReasonUnknownKey},
		{name: "bad signature", token: segs[0] + "." + enc.EncodeToString([]byte(mustJSON(t, with("sub", "admin")))) + "." + segs[2], want: ErrSignature, reason: ReasonBadSignature},
		{name: "signed by another key with a known kid", token: mint(t, other, valid(), nil), want: ErrSignature, reason: ReasonBadSignature},
		{name: "EC kid used with RS256", token: mint(t, signingKey{kid: "es", alg: "RS256", key: rs.key}, valid(), nil), want: ErrSignature, reason: ReasonBadSignature},
		{name: "truncated signature", token: good[:len(good)-10], want: ErrSignature, reason: ReasonBadSignature},
		{name: "truncated to two segments", token: segs[0] + "." + segs[1], want: ErrMalformed, reason: ReasonMalformed},
		{name: "truncated header", token: segs[0][:5], want: ErrMalformed, reason: ReasonMalformed},
		{name: "four segments", token: good + ".x", want: ErrMalformed, reason: ReasonMalformed},
		{name: "empty", token: "", want: ErrMalformed, reason: ReasonMalformed},
		{name: "non-base64 header", token: "!!!." + segs[1] + "." + segs[2], want: ErrMalformed, reason: ReasonMalformed},
		{name: "non-base64 payload", token: segs[0] + ".a*b." + segs[2], want: ErrMalformed, reason: ReasonMalformed},
		{name: "non-base64 signature", token: segs[0] + "." + segs[1] + ".%%%", want: ErrMalformed, reason: ReasonMalformed},
		{name: "padded base64", token: segs[0] + "=." + segs[1] + "." + segs[2], want: ErrMalformed, reason: ReasonMalformed},
		{name: "standard base64 alphabet", token: strings.NewReplacer("-", "+", "_", "/").Replace(good), want: ErrMalformed, reason: ReasonMalformed},
		{name: "100 KB token", token: strings.Repeat("A", 100<<10), want: ErrMalformed, reason: ReasonTooLarge},
		{name: "100 KB claims", token: mint(t, rs, with("pad", strings.Repeat("x", 100<<10)), nil), want: ErrMalformed, reason: ReasonTooLarge},
		{name: "duplicate alg in header", token: hdr(`{"alg":"RS256","kid":"rs","alg":"none"}`), want: ErrMalformed, reason: ReasonDuplicateKey},
		{name: "duplicate kid in header", token: hdr(`{"alg":"RS256","kid":"rs","kid":"es"}`), want: ErrMalformed, reason: ReasonDuplicateKey},
		{name: "duplicate alg escaped", token: hdr(`{"alg":"RS256","kid":"rs","\u0061lg":"HS256"}`), want: ErrMalformed, reason: ReasonDuplicateKey},
		{name: "duplicate sub in claims", token: signRaw(t, rs, `{"alg":"RS256","kid":"rs"}`, strings.TrimSuffix(mustJSON(t, valid()), "}")+`,"sub":"admin"}`), want: ErrMalformed, reason: ReasonDuplicateKey},
		{name: "header not an object", token: hdr(`["RS256"]`), want: ErrMalformed, reason: ReasonMalformed},
		{name: "header trailing data", token: hdr(`{"alg":"RS256","kid":"rs"}{}`), want: ErrMalformed, reason: ReasonMalformed},
		{name: "alg not a string", token: hdr(`{"alg":256,"kid":"rs"}`), want: ErrMalformed, reason: ReasonMalformed},
		{name: "kid not a string", token: hdr(`{"alg":"RS256","kid":7}`), want: ErrMalformed, reason: ReasonMalformed},
		{name: "crit header", token: hdr(`{"alg":"RS256","kid":"rs","crit":["exp"],"exp":1}`), want: ErrMalformed, reason: ReasonCritical},
		{name: "claims not an object", token: signRaw(t, rs, `{"alg":"RS256","kid":"rs"}`, `"hello"`), want: ErrMalformed, reason: ReasonMalformed},
		{name: "missing sub", token: mint(t, rs, with("sub", nil), nil), want: ErrClaims, reason: ReasonMissingSubject},
		{name: "empty sub", token: mint(t, rs, with("sub", ""), nil), want: ErrClaims, reason: ReasonMissingSubject},
		{name: "sub not a string", token: mint(t, rs, with("sub", 42), nil), want: ErrClaims, reason: ReasonMissingSubject},
		{name: "required claim wrong", token: mint(t, rs, with("email_verified", false), nil), want: ErrClaims, reason: ReasonClaimMismatch},
		{name: "required claim missing", token: mint(t, rs, with("email_verified", nil), nil), want: ErrClaims, reason: ReasonClaimMismatch},
		{name: "required claim as string", token: mint(t, rs, with("email_verified", "true"), nil), want: ErrClaims, reason: ReasonClaimMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tt.token)
			assertFailure(t, err, tt.want, tt.reason, tt.token)
		})
	}
	t.Run("control: valid token", func(t *testing.T) {
		t.Parallel()
		if _, err := v.Verify(context.Background(), good); err != nil {
			t.Fatalf("Verify(valid): %v", err)
		}
	})
}

// assertFailure checks the sentinel and reason of err and that its text
// leaks no token material.
func assertFailure(t *testing.T, err, want error, reason Reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify succeeded, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if got := ReasonOf(err); got != reason {
		t.Fatalf("reason %q, want %q (error: %v)", got, reason, err)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) > 8 && strings.Contains(err.Error(), seg) {
			t.Fatalf("error text contains a token segment: %v", err)
		}
	}
	for _, other := range []error{ErrMalformed, ErrUnsupportedAlg, ErrSignature, ErrIssuer, ErrAudience, ErrExpired, ErrNotYetValid, ErrClaims, ErrUnavailable} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("error %v also matches %v", err, other)
		}
	}
}

func TestAlgorithmConfusionWithSharedSecret(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	rs := newRSAKey(t, "rs", "RS256", 0)
	pubDER, err := x509.MarshalPKIXPublicKey(rs.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	// The JWKS also publishes a symmetric key: it must never be used.
	octKey := []byte("fedcba9876543210fedcba9876543210")
	oct := jose.JSONWebKey{Key: octKey, KeyID: "oct", Algorithm: "HS256", Use: "sig"}
	idp := newFakeIdP(t, rs.jwk(true, true), oct)
	clock := newFakeClock()
	v := newTestVerifier(t, idp, clock, func(o *Options) {
		o.Issuers[0].SharedSecret = secret
		o.Issuers[0].JWKSURL = idp.issuer() + "/keys"
	})
	c := claimsAt(idp.issuer(), clock.Now())
	rsaSigOverHS := func() string { // RS256 header, HMAC-with-secret signature
		tok := mint(t, signingKey{kid: "rs", alg: "HS256", hs: secret}, c, nil)
		s := strings.Split(tok, ".")
		h := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rs"}`))
		return h + "." + s[1] + "." + s[2]
	}()
	tests := []struct {
		name   string
		token  string
		want   error
		reason Reason
	}{
		{name: "HS256 with the secret", token: mint(t, signingKey{alg: "HS256", hs: secret}, c, nil)},
		{name: "RS256 with the RSA key", token: mint(t, rs, c, nil)},
		{name: "HS256 signed with RSA public key PEM", token: mint(t, signingKey{kid: "rs", alg: "HS256", hs: pubPEM}, c, nil), want: ErrSignature, reason: ReasonBadSignature},
		{name: "HS256 signed with RSA public key DER", token: mint(t, signingKey{kid: "rs", alg: "HS256", hs: pubDER}, c, nil), want: ErrSignature, reason: ReasonBadSignature},
		{name: "HS256 signed with the JWKS oct key", token: mint(t, signingKey{kid: "oct", alg: "HS256", hs: octKey}, c, nil), want: ErrSignature, reason: ReasonBadSignature},
		{name: "RS256 header over an HMAC signature", token: rsaSigOverHS, want: ErrSignature, reason: ReasonBadSignature},
		{name: "HS384 not allowed", token: hdrToken(t, `{"alg":"HS384"}`, c), want: ErrUnsupportedAlg, reason: ReasonAlgNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertFailure(t, err, tt.want, tt.reason, tt.token)
		})
	}
}

// hdrToken builds a token with the given header and a junk signature.
func hdrToken(t testing.TB, header string, claims map[string]any) string {
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(mustJSON(t, claims))) + "." + enc.EncodeToString([]byte("junk"))
}

func TestSharedSecretOnlyIssuerDoesNoNetworkIO(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("k", 32))
	clock := newFakeClock()
	v, err := New(Options{
		Issuers: []Config{{Issuer: "internal-service", Audiences: []string{testAudience}, SharedSecret: secret}},
		Now:     clock.Now,
		OnFetch: func(FetchEvent) { t.Error("unexpected fetch") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok := mint(t, signingKey{alg: "HS256", hs: secret}, claimsAt("internal-service", clock.Now()), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	rs := newRSAKey(t, "rs", "RS256", 0)
	_, err = v.Verify(context.Background(), mint(t, rs, claimsAt("internal-service", clock.Now()), nil))
	assertFailure(t, err, ErrUnsupportedAlg, ReasonAlgNotAllowed, "")
}

func TestClockSkew(t *testing.T) {
	t.Parallel()
	es := newECKey(t, "es")
	idp := newFakeIdP(t, es.jwk(true, true))
	clock := newFakeClock()
	now := clock.Now()
	tests := []struct {
		name  string
		skew  *time.Duration // nil: unset, the default
		claim string
		at    time.Duration
		want  error
	}{
		{name: "exp 30s ago within default skew", claim: "exp", at: -30 * time.Second},
		{name: "exp 61s ago beyond default skew", claim: "exp", at: -61 * time.Second, want: ErrExpired},
		{name: "exp 1s ago with no skew", skew: new(time.Duration(0)), claim: "exp", at: -time.Second, want: ErrExpired},
		{name: "exp exactly now with no skew", skew: new(time.Duration(0)), claim: "exp", at: 0, want: ErrExpired},
		{name: "exp 4m ago with 5m skew", skew: new(5 * time.Minute), claim: "exp", at: -4 * time.Minute},
		{name: "nbf 30s ahead within default skew", claim: "nbf", at: 30 * time.Second},
		{name: "nbf 61s ahead", claim: "nbf", at: 61 * time.Second, want: ErrNotYetValid},
		{name: "nbf 1s ahead with no skew", skew: new(time.Duration(0)), claim: "nbf", at: time.Second, want: ErrNotYetValid},
		{name: "iat 30s ahead within default skew", claim: "iat", at: 30 * time.Second},
		{name: "iat 61s ahead", claim: "iat", at: 61 * time.Second, want: ErrNotYetValid},
		{name: "iat 1s ahead with no skew", skew: new(time.Duration(0)), claim: "iat", at: time.Second, want: ErrNotYetValid},
		{name: "exp 1s ahead with no skew", skew: new(time.Duration(0)), claim: "exp", at: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, idp, clock, func(o *Options) { o.Issuers[0].ClockSkew = tt.skew })
			c := claimsAt(idp.issuer(), now)
			c[tt.claim] = now.Add(tt.at).Unix()
			_, err := v.Verify(context.Background(), mint(t, es, c, nil))
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}
