package oidcprovider_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// atHash computes at_hash for alg: the left half of the SHA-256 (RS256,
// ES256) or SHA-512 (Ed25519) of the access token.
func atHash(alg, accessToken string) string {
	var sum []byte
	if alg == oidcprovider.AlgEd25519 {
		s := sha512.Sum512([]byte(accessToken))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(accessToken))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func TestSigningAlgorithms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   []oidcprovider.Option
		alg    string
		atType string
		kty    string
	}{
		{name: "lenient default", alg: "RS256", atType: "at+jwt", kty: "RSA"},
		{name: "lenient ES256", opts: []oidcprovider.Option{oidcprovider.WithIDTokenAlg("ES256")}, alg: "ES256", atType: "at+jwt", kty: "EC"},
		{name: "lenient Ed25519 typ JWT", opts: []oidcprovider.Option{oidcprovider.WithIDTokenAlg("Ed25519"), oidcprovider.WithAccessTokenJWTType("JWT")}, alg: "Ed25519", atType: "JWT", kty: "OKP"},
		{name: "strict default", opts: []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict)}, alg: "Ed25519", atType: "at+jwt", kty: "OKP"},
		{name: "strict ES256", opts: []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict), oidcprovider.WithIDTokenAlg("ES256")}, alg: "ES256", atType: "at+jwt", kty: "EC"},
		{name: "strict RS256", opts: []oidcprovider.Option{oidcprovider.WithProfile(oidcprovider.Strict), oidcprovider.WithIDTokenAlg("RS256")}, alg: "RS256", atType: "at+jwt", kty: "RSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logoutTokens := make(chan string, 4)
			rp := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				v, _ := url.ParseQuery(string(body))
				logoutTokens <- v.Get("logout_token")
			}))
			t.Cleanup(rp.Close)
			c := web
			c.BackChannelLogoutURI = rp.URL
			p := oidcprovider.Start(t, append(tc.opts, oidcprovider.WithUsers(bob), oidcprovider.WithClients(c))...)

			keys := jwks(t, p)
			if len(keys) != 1 || keys[0].Alg != tc.alg || keys[0].Kty != tc.kty || keys[0].Use != "sig" || keys[0].Kid != p.KeyID() {
				t.Fatalf("JWKS = %+v, want one %s %s key %s", keys, tc.kty, tc.alg, p.KeyID())
			}
			if tc.alg == "Ed25519" && keys[0].Crv != "Ed25519" || tc.alg == "ES256" && keys[0].Crv != "P-256" {
				t.Errorf("JWKS crv = %q", keys[0].Crv)
			}

			a := newAgent(t, p)
			tr, _ := login(t, p, a, "web", "s3cret", url.Values{"scope": {"openid"}})
			idHeader, idClaims := mustVerify(t, p, tr.IDToken)
			atHeader, _ := mustVerify(t, p, tr.AccessToken)
			if idHeader["alg"] != tc.alg || idHeader["typ"] != "JWT" || atHeader["alg"] != tc.alg || atHeader["typ"] != tc.atType {
				t.Errorf("ID token header %v, access token header %v; want alg %s, typ JWT and %s", idHeader, atHeader, tc.alg, tc.atType)
			}
			if idClaims["at_hash"] != atHash(tc.alg, tr.AccessToken) {
				t.Errorf("at_hash = %v, want %s", idClaims["at_hash"], atHash(tc.alg, tr.AccessToken))
			}
			// The op package verifies its own tokens: the access token at
			// userinfo and introspection.
			if ui := getJSON(t, p.UserinfoURL(), tr.AccessToken); ui["sub"] != bob.ID {
				t.Errorf("userinfo = %v", ui)
			}
			if status, body := postForm(t, p.IntrospectionURL(), "web", "s3cret", url.Values{"token": {tr.AccessToken}}); status != http.StatusOK || !strings.Contains(body, `"active":true`) {
				t.Errorf("introspection: %d %s", status, body)
			}

			crafted, err := p.SignJWT(map[string]any{"iss": p.Issuer(), "sub": "crafted"}, "")
			if err != nil {
				t.Fatal(err)
			}
			if h, _ := mustVerify(t, p, crafted); h["alg"] != tc.alg || h["typ"] != "JWT" {
				t.Errorf("SignJWT header = %v", h)
			}

			// Graceful rotation: the old key stays published.
			first := p.KeyID()
			second, err := p.RotateKey(true)
			if err != nil {
				t.Fatal(err)
			}
			if keys := jwks(t, p); len(keys) != 2 || keys[0].Kid != first || keys[1].Kid != second || keys[1].Alg != tc.alg || keys[1].Kty != tc.kty {
				t.Errorf("JWKS after graceful rotation = %+v", keys)
			}
			tr2, _ := login(t, p, a, "web", "s3cret", url.Values{"scope": {"openid"}})
			if h, _ := mustVerify(t, p, tr2.IDToken); h["kid"] != second {
				t.Errorf("ID token after rotation signed by %v, want %s", h["kid"], second)
			}
			mustVerify(t, p, tr.IDToken)

			// Hard rotation: tokens of withdrawn keys no longer verify.
			third, err := p.RotateKey(false)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := verifyJWS(t, p, tr2.IDToken); err == nil {
				t.Error("ID token of a withdrawn key still verifies")
			}
			tr3, _ := login(t, p, a, "web", "s3cret", url.Values{"scope": {"openid"}})
			if h, _ := mustVerify(t, p, tr3.IDToken); h["kid"] != third {
				t.Errorf("ID token after hard rotation signed by %v, want %s", h["kid"], third)
			}

			// The op package verifies its own ID token as id_token_hint; the
			// logout token carries the alg too.
			resp := a.get(p.EndSessionURL() + "?" + url.Values{"id_token_hint": {tr3.IDToken}}.Encode())
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != oidcprovider.PathLoggedOut {
				t.Fatalf("end_session with id_token_hint: status %d at %s", resp.StatusCode, resp.Request.URL)
			}
			var lt string
			select {
			case lt = <-logoutTokens:
			case <-time.After(30 * time.Second): // "hung", not "slow"
				t.Fatal("no back-channel logout token arrived")
			}
			if h, claims := mustVerify(t, p, lt); h["alg"] != tc.alg || h["typ"] != "logout+jwt" || claims["sub"] != bob.ID {
				t.Errorf("logout token header %v, claims %v", h, claims)
			}
		})
	}
}

func TestUnsupportedSigningAlgorithm(t *testing.T) {
	t.Parallel()
	if p, err := oidcprovider.New(oidcprovider.Config{IDTokenAlg: "HS256"}); err == nil {
		_ = p.Close()
		t.Fatal("New accepted IDTokenAlg HS256")
	}
}
