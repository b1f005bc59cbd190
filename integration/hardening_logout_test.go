package integration_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/redistest"
	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Class 5: no unauthenticated request can delay or block a genuine
// logout token or a genuine JWT: tokens forged under the provider's real
// (or a future) kid, sent to a gateway that has just started, come before
// the genuine ones.

// forgeRS256 signs claims with a fresh RSA key under the given kid, as
// anyone can: the provider's kids are public (its JWKS).
func forgeRS256(t *testing.T, kid, typ string, claims map[string]any) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "RS256", "kid": kid, "typ": typ}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// The JWT cases that take no time run against every provider profile (a
// token forged with RS256 under an Ed25519 or ES256 kid is a case of its
// own); jwt_unknown_kids_then_rotation waits out the gateway's key
// cooldown several times, and what it checks (the key cache) does not
// depend on the profile, so it runs against the lenient provider only.
func hardenKeyCooldown(t *testing.T) {
	t.Run("jwt_forged_under_real_kid_after_start", func(t *testing.T) {
		forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
			idp := startIdP(t, opts)
			up := startRecorder(t)
			gw := harness.StartGateway(t, jwtGateway(idp.Issuer(), up.Addr))
			for range 3 {
				if got := getWithToken(t, gw, forgeRS256(t, idp.KeyID(), "at+jwt", jwtClaims(idp))); got != 401 {
					t.Fatalf("forged token under the real kid: %d, want 401", got)
				}
			}
			if got := getWithToken(t, gw, signedBy(t, idp, nil)); got != 200 {
				t.Errorf("the genuine token after the forged ones: %d, want 200", got)
			}
		})
	})
	t.Run("jwt_rotation_without_probes", func(t *testing.T) { // the control of the next case
		forEachProfile(t, func(t *testing.T, opts ...oidcprovider.Option) {
			idp := oidcprovider.Start(t, opts...)
			up := startRecorder(t)
			gw := harness.StartGateway(t, jwtGateway(idp.Issuer(), up.Addr))
			if got := getWithToken(t, gw, signedBy(t, idp, nil)); got != 200 {
				t.Fatalf("the genuine token: %d", got)
			}
			if _, err := idp.RotateKey(true); err != nil {
				t.Fatal(err)
			}
			if got := getWithToken(t, gw, signedBy(t, idp, nil)); got != 200 {
				t.Errorf("a genuine token under the provider's new key: %d, want 200\n%s", got, lastLine(decisions(gw)))
			}
		})
	})
	t.Run("jwt_unknown_kids_then_rotation", func(t *testing.T) {
		idp := oidcprovider.Start(t, oidcprovider.WithUsers(alice))
		up := startRecorder(t)
		gw := harness.StartGateway(t, jwtGateway(idp.Issuer(), up.Addr))
		if got := getWithToken(t, gw, signedBy(t, idp, nil)); got != 200 {
			t.Fatalf("the genuine token: %d", got)
		}
		for i := range 5 {
			getWithToken(t, gw, forgeRS256(t, fmt.Sprintf("attacker-kid-%d", i), "at+jwt", jwtClaims(idp)))
		}
		if _, err := idp.RotateKey(true); err != nil {
			t.Fatal(err)
		}
		if got := getWithToken(t, gw, signedBy(t, idp, nil)); got != 200 {
			t.Errorf("a genuine token under the provider's new key, right after unknown-kid probes: %d, want 200\n%s", got, lastLine(decisions(gw)))
		}
	})
	t.Run("backchannel_logout_forged_then_genuine_after_restart", func(t *testing.T) {
		forEachProfile(t, forgedThenGenuineLogout)
	})
}

// jwtClaims are the claims of a bearer token of idp that jwtGateway accepts.
func jwtClaims(idp *oidcprovider.Provider) map[string]any {
	now := time.Now()
	return map[string]any{"iss": idp.Issuer(), "sub": "alice", "aud": []string{issuersAudience}, "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

// forgedThenGenuineLogout: logout tokens forged under the provider's
// real kid, sent to a gateway that has just started, do not keep it from
// accepting the genuine one.
func forgedThenGenuineLogout(t *testing.T, opts ...oidcprovider.Option) {
	idp := startIdP(t, opts)
	store := "store " + redistest.SharedStandalone(t).URL()
	up := harness.StartUpstream(t)
	before := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, store, ""), ssoEnv...)
	// The restarted gateway: same store and keys, nothing cached.
	after := harness.StartGateway(t, ssoGateway(idp.Issuer(), up.Addr, store, ""), ssoEnv...)
	registerGateway(idp, before, after) // back-channel logouts go to the last: after
	a := newAgent(t)
	cookie := a.loginAt(before, "/")
	if withSession(t, after, "/", cookie) != 200 {
		t.Fatal("the session does not work on the restarted gateway")
	}
	forged := forgeRS256(t, idp.KeyID(), "logout+jwt", map[string]any{"iss": idp.Issuer(), "aud": ssoClientID,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": fmt.Sprint(time.Now().UnixNano()),
		"sub": alice.ID, "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})
	for range 3 {
		resp, body := postForm(t, after.URL+"/.portcullis/backchannel-logout", url.Values{"logout_token": {forged}})
		if resp != 400 {
			t.Errorf("forged logout token: %d %s, want 400", resp, body)
		}
	}
	a.navigate(idp.EndSessionURL())
	sent := idp.BackChannelLogouts()
	if len(sent) == 0 || sent[len(sent)-1].Status != 200 {
		t.Fatalf("the genuine back-channel logout after the forged ones: %+v", sent)
	}
	if got := withSession(t, before, "/", cookie); got != 401 {
		t.Errorf("the session after the genuine logout: %d, want 401", got)
	}
}

// getWithToken GETs /orders/1 with a bearer token; the gateway may hold
// a token whose key is new for up to its unknown-key cooldown.
func getWithToken(t *testing.T, gw *harness.Gateway, tok string) int {
	t.Helper()
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	return rawSend(t, host, rawReq{method: "GET", target: "/orders/1", host: host, headers: hdrs("Authorization", "Bearer "+tok)}.String()).Status
}

// checkSkewZeroRotation (class 10): with clock_skew 0s, a key the issuer
// rotates to right after the gateway fetched its keys (same second: iat
// has whole seconds) still verifies.
func checkSkewZeroRotation(t *testing.T) {
	idp := oidcprovider.Start(t)
	up := startRecorder(t)
	gw := harness.StartGateway(t, claimsGateway(idp.Issuer(), up.Addr))
	// Start at a whole second, so the fetch, the rotation and the new
	// token most likely share one (the case this checks).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	if got := getWithToken(t, gw, signedBy(t, idp, map[string]any{"sub": "reader-bot"})); got != 200 {
		t.Fatalf("the genuine token: %d", got)
	}
	if _, err := idp.RotateKey(true); err != nil {
		t.Fatal(err)
	}
	if got := getWithToken(t, gw, signedBy(t, idp, map[string]any{"sub": "reader-bot"})); got != 200 {
		t.Errorf("a token under the key the issuer just rotated to: %d, want 200\n%s", got, lastLine(decisions(gw)))
	}
}

func postForm(t *testing.T, u string, v url.Values) (int, string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	resp := rawSend(t, pu.Host, rawReq{method: "POST", target: pu.RequestURI(), host: pu.Host,
		headers: hdrs("Content-Type", "application/x-www-form-urlencoded"), body: v.Encode()}.String())
	return resp.Status, resp.Body
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
