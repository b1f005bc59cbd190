package oidcflow

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// verifyRaw verifies raw as an ID token from idp with c.
func verifyRaw(t *testing.T, c *Client, raw string) (*idToken, error) {
	t.Helper()
	return c.verifyIDToken(t.Context(), mustProvider(t, c), raw)
}

// wantIDTokenResult checks the outcome of an ID token verification: ok,
// or ErrIDToken (never an outage, never internal).
func wantIDTokenResult(t *testing.T, err error, ok bool) {
	t.Helper()
	switch {
	case ok && err != nil:
		t.Fatalf("verification failed: %v", err)
	case !ok && err == nil:
		t.Fatal("verification succeeded")
	case !ok && (!errors.Is(err, ErrIDToken) || errors.Is(err, ErrUnavailable) || Reason(err) != ReasonIDToken):
		t.Fatalf("error = %v (reason %s), want ErrIDToken only", err, Reason(err))
	}
}

// TestIDTokenIssuer: only the issuer byte for byte is accepted.
func TestIDTokenIssuer(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	iss := idp.issuer()
	tests := []struct {
		name string
		iss  any // nil removes the claim
		ok   bool
	}{
		{name: "exact", iss: iss, ok: true},
		{name: "absent"},
		{name: "empty", iss: ""},
		{name: "trailing slash", iss: iss + "/"},
		{name: "scheme case changed", iss: strings.Replace(iss, "http://", "HTTP://", 1)},
		{name: "https instead of http", iss: strings.Replace(iss, "http://", "https://", 1)},
		{name: "percent-encoded", iss: strings.Replace(iss, "://", "%3A%2F%2F", 1)},
		{name: "percent-encoded dot", iss: strings.Replace(iss, "127.0.0.1", "127%2E0.0.1", 1)},
		{name: "with a path", iss: iss + "/tenant"},
		{name: "trailing space", iss: iss + " "},
		{name: "other provider", iss: "https://evil.example"},
		{name: "list", iss: []string{iss}},
		{name: "number", iss: 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := idClaims(idp, "alice", clk.Now())
			if tt.iss == nil {
				delete(claims, "iss")
			} else {
				claims["iss"] = tt.iss
			}
			_, err := verifyRaw(t, c, idp.sign(claims))
			wantIDTokenResult(t, err, tt.ok)
		})
	}
}

// TestIDTokenAudience is the aud and azp corpus (OIDC Core §3.1.3.7
// items 3 to 5): aud must name us; with several audiences azp must be
// us; a present azp must be us.
func TestIDTokenAudience(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	const other = "other-client"
	absent := struct{}{}
	tests := []struct {
		name string
		aud  any
		azp  any // absent: no azp claim
		ok   bool
	}{
		{name: "aud string", aud: testClientID, azp: absent, ok: true},
		{name: "aud single-element list", aud: []string{testClientID}, azp: absent, ok: true},
		{name: "aud string, azp us", aud: testClientID, azp: testClientID, ok: true},
		{name: "several audiences, azp us", aud: []string{testClientID, other}, azp: testClientID, ok: true},
		{name: "several audiences we are second, azp us", aud: []string{other, testClientID}, azp: testClientID, ok: true},
		{name: "several audiences without azp", aud: []string{testClientID, other}, azp: absent},
		{name: "several audiences, azp other", aud: []string{testClientID, other}, azp: other},
		{name: "aud us twice without azp", aud: []string{testClientID, testClientID}, azp: absent},
		{name: "aud string, azp other", aud: testClientID, azp: other},
		{name: "aud string, azp empty", aud: testClientID, azp: ""},
		{name: "aud string, azp null", aud: testClientID, azp: nil},
		{name: "aud string, azp number", aud: testClientID, azp: 7},
		{name: "aud string, azp list", aud: testClientID, azp: []string{testClientID}},
		{name: "aud other", aud: other, azp: absent},
		{name: "aud other, azp us", aud: other, azp: testClientID},
		{name: "aud list of others", aud: []string{other, "third"}, azp: testClientID},
		{name: "aud case changed", aud: strings.ToUpper(testClientID), azp: absent},
		{name: "aud prefix", aud: testClientID + "-x", azp: absent},
		{name: "aud empty string", aud: "", azp: absent},
		{name: "aud empty list", aud: []string{}, azp: absent},
		{name: "aud absent", aud: absent, azp: absent},
		{name: "aud null", aud: nil, azp: absent},
		{name: "aud number", aud: 1, azp: absent},
		{name: "aud list with a number", aud: []any{testClientID, 1}, azp: testClientID},
		{name: "aud object", aud: map[string]any{testClientID: true}, azp: absent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := idClaims(idp, "alice", clk.Now())
			delete(claims, "aud")
			if tt.aud != absent {
				claims["aud"] = tt.aud
			}
			if tt.azp != absent {
				claims["azp"] = tt.azp
			}
			_, err := verifyRaw(t, c, idp.sign(claims))
			wantIDTokenResult(t, err, tt.ok)
		})
	}
}

// TestIDTokenSubject: sub must be a non-empty string.
func TestIDTokenSubject(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	for name, sub := range map[string]any{"absent": nil, "empty": "", "number": 42, "list": []string{"a"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			claims := idClaims(idp, "alice", clk.Now())
			if sub == nil {
				delete(claims, "sub")
			} else {
				claims["sub"] = sub
			}
			_, err := verifyRaw(t, c, idp.sign(claims))
			wantIDTokenResult(t, err, false)
		})
	}
	idt, err := verifyRaw(t, c, idp.sign(idClaims(idp, "alice", clk.Now())))
	if err != nil || idt.subject != "alice" || idt.alg != "ES256" {
		t.Fatalf("verifyIDToken = %+v, %v", idt, err)
	}
}

// TestIDTokenTimes checks exp, iat and nbf with the default skew (60 s)
// and with ClockSkew pointing to 0 (exact), on the injected clock.
func TestIDTokenTimes(t *testing.T) {
	t.Parallel()
	zero, fiveSec := time.Duration(0), 5*time.Second
	set := func(name string, d time.Duration) func(map[string]any, time.Time) {
		return func(c map[string]any, now time.Time) { c[name] = now.Add(d).Unix() }
	}
	del := func(name string) func(map[string]any, time.Time) {
		return func(c map[string]any, _ time.Time) { delete(c, name) }
	}
	raw := func(name string, v any) func(map[string]any, time.Time) {
		return func(c map[string]any, _ time.Time) { c[name] = v }
	}
	tests := []struct {
		name string
		skew *time.Duration // nil: default
		edit func(map[string]any, time.Time)
		ok   bool
	}{
		{name: "valid", ok: true},
		{name: "valid exact", skew: &zero, ok: true},

		{name: "exp now, default skew", edit: set("exp", 0), ok: true},
		{name: "exp now, exact", skew: &zero, edit: set("exp", 0)},
		{name: "exp in 1s, exact", skew: &zero, edit: set("exp", time.Second), ok: true},
		{name: "exp 59s ago, default skew", edit: set("exp", -59*time.Second), ok: true},
		{name: "exp 60s ago, default skew", edit: set("exp", -60*time.Second)},
		{name: "exp 1s ago, exact", skew: &zero, edit: set("exp", -time.Second)},
		{name: "exp 4s ago, 5s skew", skew: &fiveSec, edit: set("exp", -4*time.Second), ok: true},
		{name: "exp 5s ago, 5s skew", skew: &fiveSec, edit: set("exp", -5*time.Second)},
		{name: "exp fractional, just ahead, exact", skew: &zero, edit: func(c map[string]any, now time.Time) {
			c["exp"] = float64(now.Unix()) + 0.5
		}, ok: true},
		{name: "exp absent", edit: del("exp")},
		{name: "exp string", edit: raw("exp", "2030-01-01")},
		{name: "exp negative", edit: raw("exp", -1)},
		{name: "exp huge", edit: raw("exp", 1e13)},

		{name: "iat absent", edit: del("iat")},
		{name: "iat string", edit: raw("iat", "now")},
		{name: "iat 60s ahead, default skew", edit: set("iat", 60*time.Second), ok: true},
		{name: "iat 61s ahead, default skew", edit: set("iat", 61*time.Second)},
		{name: "iat now, exact", skew: &zero, edit: set("iat", 0), ok: true},
		{name: "iat 1s ahead, exact", skew: &zero, edit: set("iat", time.Second)},
		{name: "iat long ago", edit: set("iat", -24*time.Hour), ok: true},

		{name: "nbf now, exact", skew: &zero, edit: set("nbf", 0), ok: true},
		{name: "nbf 1s ahead, exact", skew: &zero, edit: set("nbf", time.Second)},
		{name: "nbf 30s ahead, default skew", edit: set("nbf", 30*time.Second), ok: true},
		{name: "nbf 61s ahead, default skew", edit: set("nbf", 61*time.Second)},
		{name: "nbf string", edit: raw("nbf", "soon")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = tt.skew })
			claims := idClaims(idp, "alice", clk.Now())
			if tt.edit != nil {
				tt.edit(claims, clk.Now())
			}
			_, err := verifyRaw(t, c, idp.sign(claims))
			wantIDTokenResult(t, err, tt.ok)
		})
	}
}

// TestClockSkewExactLogin: with ClockSkew pointing to 0, a login works
// on an exact clock, and an ID token one second from expiry works while
// one that expires now does not.
func TestClockSkewExactLogin(t *testing.T) {
	t.Parallel()
	zero := time.Duration(0)
	for _, tt := range []struct {
		name string
		exp  time.Duration
		ok   bool
	}{{"one second left", time.Second, true}, {"expires now", 0, false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.claimsHook = func(c map[string]any) { c["exp"] = clk.Now().Add(tt.exp).Unix() }
			c := newTestClient(t, idp, clk, func(cfg *Config) { cfg.ClockSkew = &zero })
			if c.skew != 0 {
				t.Fatalf("skew = %v, want 0", c.skew)
			}
			_, err := tryLogin(t, c, idp, "alice")
			wantIDTokenResult(t, err, tt.ok)
		})
	}
	c := newTestClient(t, newIdP(t, newClock().Now), newClock(), nil)
	if c.skew != DefaultClockSkew {
		t.Fatalf("default skew = %v", c.skew)
	}
}

// hs256 signs claims with HMAC-SHA256 under key, with kid.
func hs256(t *testing.T, key []byte, kid string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": kid})
	b, _ := json.Marshal(claims)
	input := enc(h) + "." + enc(b)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + enc(mac.Sum(nil))
}

// unsigned returns an unsecured JWS with header.
func unsigned(header map[string]any, claims map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(header)
	b, _ := json.Marshal(claims)
	return enc(h) + "." + enc(b) + "."
}

// TestIDTokenAlgorithms: every asymmetric algorithm the provider uses
// is accepted with its own key (including RFC 9864's Ed25519); a key of
// one family is never used with another algorithm, and none and HS256
// are refused even though the provider lists them.
func TestIDTokenAlgorithms(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	c := newTestClient(t, idp, clk, nil)
	claims := idClaims(idp, "alice", clk.Now())
	edPub := idp.edKey.Public()
	edPubBytes, _ := json.Marshal(edPub)
	tests := []struct {
		name  string
		token func() string
		alg   string // the alg verifyIDToken reports, when ok
	}{
		{name: "ES256", token: func() string { return idp.jws("ES256", nil, claims) }, alg: "ES256"},
		{name: "RS256", token: func() string { return idp.jws("RS256", nil, claims) }, alg: "RS256"},
		{name: "PS256", token: func() string { return idp.jws("PS256", nil, claims) }, alg: "PS256"},
		{name: "EdDSA under the Ed25519-labelled key", token: func() string { return idp.jws("EdDSA", nil, claims) }, alg: "EdDSA"},
		{name: "Ed25519", token: func() string { return idp.jws("Ed25519", nil, claims) }, alg: "Ed25519"},
		{name: "Ed25519 without kid", token: func() string { return idp.jws("Ed25519", map[string]any{"kid": nil}, claims) }, alg: "Ed25519"},
		{name: "ES256 without kid", token: func() string { return idp.jws("ES256", map[string]any{"kid": nil}, claims) }, alg: "ES256"},

		{name: "Ed25519 key under an RS256 header", token: func() string { return idp.jws("Ed25519", map[string]any{"alg": "RS256"}, claims) }},
		{name: "Ed25519 signature under RS256 and the RSA kid", token: func() string {
			return idp.jws("Ed25519", map[string]any{"alg": "RS256", "kid": testRSAKID}, claims)
		}},
		{name: "Ed25519 signature under ES256 and the EC kid", token: func() string {
			return idp.jws("Ed25519", map[string]any{"alg": "ES256", "kid": testKID}, claims)
		}},
		{name: "Ed25519 header, EC kid", token: func() string { return idp.jws("Ed25519", map[string]any{"kid": testKID}, claims) }},
		{name: "ES256 signature under an Ed25519 header", token: func() string { return idp.jws("ES256", map[string]any{"alg": "Ed25519"}, claims) }},
		{name: "RS256 signature under PS256", token: func() string { return idp.jws("RS256", map[string]any{"alg": "PS256"}, claims) }},
		{name: "RSA key under ES256", token: func() string { return idp.jws("RS256", map[string]any{"alg": "ES256"}, claims) }},
		{name: "HS256 with the client secret", token: func() string { return hs256(t, []byte(testClientSecret), testKID, claims) }},
		{name: "HS256 with the Ed25519 public key", token: func() string { return hs256(t, edPubBytes, testEdKID, claims) }},
		{name: "alg none", token: func() string { return unsigned(map[string]any{"alg": "none", "kid": testKID}, claims) }},
		{name: "alg None", token: func() string { return unsigned(map[string]any{"alg": "None"}, claims) }},
		{name: "no alg", token: func() string { return idp.jws("ES256", map[string]any{"alg": nil}, claims) }},
		{name: "alg ed25519 lower case", token: func() string { return idp.jws("Ed25519", map[string]any{"alg": "ed25519"}, claims) }},
		{name: "Ed25519 truncated signature", token: func() string { s := idp.jws("Ed25519", nil, claims); return s[:len(s)-4] }},
		{name: "Ed25519 payload changed", token: func() string {
			s := idp.jws("Ed25519", nil, claims)
			other := idp.jws("Ed25519", nil, idClaims(idp, "mallory", clk.Now()))
			p := strings.Split(s, ".")
			return p[0] + "." + strings.Split(other, ".")[1] + "." + p[2]
		}},
		{name: "two dots only", token: func() string { return "a.b" }},
		{name: "garbage", token: func() string { return "not a token" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idt, err := verifyRaw(t, c, tt.token())
			wantIDTokenResult(t, err, tt.alg != "")
			if tt.alg != "" && idt.alg != tt.alg {
				t.Fatalf("alg = %q, want %q", idt.alg, tt.alg)
			}
		})
	}
}

// TestIDTokenAlgorithmNotListed: a provider that does not list Ed25519
// cannot have Ed25519 ID tokens accepted, though its key is published.
func TestIDTokenAlgorithmNotListed(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.discoveryEdit = func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"ES256"} }
	c := newTestClient(t, idp, clk, nil)
	claims := idClaims(idp, "alice", clk.Now())
	for _, alg := range []string{"Ed25519", "EdDSA", "RS256", "PS256"} {
		_, err := verifyRaw(t, c, idp.jws(alg, nil, claims))
		wantIDTokenResult(t, err, false)
	}
	_, err := verifyRaw(t, c, idp.jws("ES256", nil, claims))
	wantIDTokenResult(t, err, true)
}

// TestFakeJWKSPublishesEd25519: the fake provider's Ed25519 key is an OKP
// JWK with crv and alg Ed25519, as RFC 9864 providers publish it.
func TestFakeJWKSPublishesEd25519(t *testing.T) {
	t.Parallel()
	idp := newIdP(t, newClock().Now)
	resp, err := idp.srv.Client().Get(idp.issuer() + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k["kid"] == testEdKID {
			if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "Ed25519" || k["use"] != "sig" {
				t.Fatalf("Ed25519 JWK = %v", k)
			}
			return
		}
	}
	t.Fatalf("no Ed25519 key in %v", set.Keys)
}

// TestAccessTokenHash covers at_hash for every accepted algorithm: the
// left half of the right hash, base64url without padding; SHA-512 for
// Ed25519 and EdDSA.
func TestAccessTokenHash(t *testing.T) {
	t.Parallel()
	// Known answers: Ping Identity's at_hash walk-through (RS256), and
	// the c_hash of OpenID Connect Core 1.0 Appendix A.4 (same rule).
	for at, h := range map[string]string{
		"dNZX1hEZ9wBCzNL40Upu646bdzQA":                               "wfgvmE9VxjAudsl9lc6TqA",
		"Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk": "LDktKdoQak3Pk0cnXxCltA",
	} {
		if err := verifyAccessTokenHash("RS256", h, at); err != nil {
			t.Errorf("known answer %s: %v", h, err)
		}
	}
	const at = "at-0123456789abcdef"
	for _, alg := range AcceptedAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			good := atHashFor(alg, at)
			if err := verifyAccessTokenHash(alg, good, at); err != nil {
				t.Fatalf("correct at_hash refused: %v", err)
			}
			full := sha256Full(at)
			bad := map[string]string{
				"other token":     atHashFor(alg, at+"x"),
				"empty":           "",
				"padded":          good + "==",
				"upper case":      strings.ToUpper(good),
				"full SHA-256":    full,
				"half too short":  good[:len(good)-1],
				"raw token":       at,
				"SHA-256 variant": atHashFor("ES256", at),
			}
			if alg == "ES256" || alg == "RS256" || alg == "PS256" {
				delete(bad, "SHA-256 variant")
			}
			for name, h := range bad {
				err := verifyAccessTokenHash(alg, h, at)
				if !errors.Is(err, ErrIDToken) {
					t.Errorf("%s at_hash %q: %v, want ErrIDToken", name, h, err)
				}
			}
		})
	}
	for _, alg := range []string{"HS256", "none", "", "ES256K"} {
		if err := verifyAccessTokenHash(alg, atHashFor("ES256", at), at); !errors.Is(err, ErrIDToken) {
			t.Errorf("at_hash under alg %q: %v, want ErrIDToken", alg, err)
		}
	}
}

func sha256Full(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestLoginEachAlgorithm logs in with ID tokens signed with each
// algorithm the provider uses; at_hash must use that algorithm's hash.
func TestLoginEachAlgorithm(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.idAlg = alg
			c := newTestClient(t, idp, clk, nil)
			res, err := tryLogin(t, c, idp, "alice")
			if err != nil {
				t.Fatalf("login with %s ID token: %v", alg, err)
			}
			if got, _ := joseHeader(res.Login.Tokens.IDToken); got != alg {
				t.Fatalf("ID token alg = %q", got)
			}
			if res.Login.Subject != "alice" || res.Login.Claims.Email != "alice@example.com" {
				t.Fatalf("login = %+v", res.Login)
			}
		})
		t.Run(alg+" at_hash with the wrong hash", func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			idp := newIdP(t, clk.Now)
			idp.idAlg = alg
			wrong := "ES384" // SHA-384: wrong for every algorithm here
			idp.accessTokenFor = func(string) string { return "at-fixed" }
			idp.claimsHook = func(c map[string]any) { c["at_hash"] = atHashFor(wrong, "at-fixed") }
			c := newTestClient(t, idp, clk, nil)
			_, err := tryLogin(t, c, idp, "alice")
			wantIDTokenResult(t, err, false)
		})
	}
}

// TestLoginEd25519OnlyProvider: a provider that signs with RFC 9864's
// Ed25519 only (and lists nothing else) works end to end, with signed
// UserInfo under the same key.
func TestLoginEd25519OnlyProvider(t *testing.T) {
	t.Parallel()
	clk := newClock()
	idp := newIdP(t, clk.Now)
	idp.idAlg, idp.uiJWT, idp.uiAlg = "Ed25519", true, "Ed25519"
	idp.discoveryEdit = func(d map[string]any) {
		d["id_token_signing_alg_values_supported"] = []string{"Ed25519"}
		d["userinfo_signing_alg_values_supported"] = []string{"Ed25519"}
	}
	c := newTestClient(t, idp, clk, nil)
	res, err := tryLogin(t, c, idp, "alice")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if p := mustProvider(t, c); strings.Join(p.algs, ",") != "Ed25519" {
		t.Fatalf("accepted algorithms = %v", p.algs)
	}
	if res.Login.Claims.Email != "alice@example.com" || idp.userinfoHits.Load() != 1 {
		t.Fatalf("claims = %+v, UserInfo calls %d", res.Login.Claims, idp.userinfoHits.Load())
	}
}
