package integration_test

import (
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

const (
	machineID     = "orders-client"
	machineSecret = "orders-client-secret-0123456789"
	ordersAPI     = "api://orders"
)

// jwtGateway trusts the provider's JWTs for the orders API.
func jwtGateway(issuer, upstream string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		jwt %s {
			audience %s
		}
		scope orders:admin implies orders:write
		scope orders:write implies orders:read
	}
}

http://127.0.0.1:%d {
	portcullis {
		require orders:read
		require orders:write methods POST
	}
	reverse_proxy %s
}
`, p.Global(), issuer, ordersAPI, p.HTTP, upstream)
	}
}

func startJWTSetup(t *testing.T) (*oidcprovider.Provider, *harness.Gateway, *harness.Upstream) {
	t.Helper()
	idp := oidcprovider.Start(t)
	idp.AddClient(oidcprovider.Client{ID: machineID, Secret: machineSecret, Audience: []string{ordersAPI},
		GrantTypes: []oidcprovider.GrantType{oidcprovider.GrantClientCredentials}})
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, jwtGateway(idp.Issuer(), up.Addr))
	return idp, gw, up
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestJWTFromProvider: tokens from the real provider pass with their
// scopes; a scope implication lets an admin write; a key rotation at the
// provider is picked up without a restart.
func TestJWTFromProvider(t *testing.T) {
	t.Parallel()
	idp, gw, up := startJWTSetup(t)
	ctx := context.Background()
	read, err := idp.ClientCredentialsToken(ctx, machineID, machineSecret, "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := gw.Do(t, "GET", "/orders", bearer(read)); resp.StatusCode != 200 {
		t.Fatalf("valid token: %d %s", resp.StatusCode, body)
	}
	got := up.Received()[0]
	if got.Get("X-Auth-Subject") != machineID || got.Get("X-Auth-Method") != "jwt" || got.Get("X-Auth-Scopes") != "orders:read" || got.Get("Authorization") != "" {
		t.Fatalf("upstream headers: %v", got)
	}
	resp, _ := gw.Do(t, "POST", "/orders", bearer(read))
	if wa := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="orders:read orders:write"`) {
		t.Fatalf("POST with read token: %d %q", resp.StatusCode, wa)
	}
	admin, _ := idp.ClientCredentialsToken(ctx, machineID, machineSecret, "orders:admin")
	if resp, _ := gw.Do(t, "POST", "/orders", bearer(admin)); resp.StatusCode != 200 {
		t.Fatalf("POST with admin (implies write): %d", resp.StatusCode)
	}

	if _, err := idp.RotateKey(false); err != nil {
		t.Fatal(err)
	}
	rotated, _ := idp.ClientCredentialsToken(ctx, machineID, machineSecret, "orders:read")
	if resp, _ := gw.Do(t, "GET", "/orders", bearer(rotated)); resp.StatusCode != 200 {
		t.Fatalf("token signed with the rotated key: %d", resp.StatusCode)
	}
}

// TestJWTCraftedTokensRefused sends a battery of forged and broken tokens;
// each gets 401 with error="invalid_token" and never reaches the upstream.
func TestJWTCraftedTokensRefused(t *testing.T) {
	t.Parallel()
	idp, gw, up := startJWTSetup(t)
	now := time.Now()
	base := func() map[string]any {
		return map[string]any{"iss": idp.Issuer(), "sub": "mallory", "aud": []string{ordersAPI}, "scope": "orders:read",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	}
	sign := func(mut func(map[string]any)) string {
		c := base()
		mut(c)
		tok, err := idp.SignJWT(c, "at+jwt")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign(func(map[string]any) {})
	if resp, _ := gw.Do(t, "GET", "/orders", bearer(valid)); resp.StatusCode != 200 {
		t.Fatalf("the control token is refused: %d", resp.StatusCode)
	}
	before := up.Count()

	b64 := func(v any) string {
		raw, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	claims := b64(base())
	// HS256 keyed with the issuer's RSA public key, the classic confusion.
	pubPEM := issuerPublicKeyPEM(t, idp)
	hsInput := b64(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + claims
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(hsInput))
	hsConfused := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	parts := strings.Split(valid, ".")
	flipped := []byte(parts[2])
	flipped[10] ^= 0x01
	if flipped[10] == '-' || flipped[10] == '_' {
		flipped[10] = 'A'
	}

	tokens := map[string]string{
		"alg none":                      b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + claims + ".",
		"HS256 with the RSA public key": hsConfused,
		"wrong iss":                     sign(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"wrong aud":                     sign(func(c map[string]any) { c["aud"] = []string{"api://other"} }),
		"expired":                       sign(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Minute).Unix() }),
		"nbf in the future":             sign(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }),
		"unknown kid":                   strings.Replace(valid, parts[0], b64(map[string]string{"alg": "RS256", "kid": "no-such-key", "typ": "at+jwt"}), 1),
		"bad signature":                 parts[0] + "." + parts[1] + "." + string(flipped),
		"truncated":                     valid[:len(valid)-20],
		"non-base64":                    "@@@." + parts[1] + "." + parts[2],
		"10 KB (over our 8 KiB limit)":  parts[0] + "." + strings.Repeat("A", 10<<10) + "." + parts[2],
		"duplicate header key":          base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","alg":"none"}`)) + "." + parts[1] + "." + parts[2],
		"ID token shape, no exp":        sign(func(c map[string]any) { delete(c, "exp") }),
	}
	for name, tok := range tokens {
		resp, body := gw.Do(t, "GET", "/orders", bearer(tok))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(body, "mallory") || strings.Contains(body, "kid") {
			t.Errorf("%s: body leaks detail: %s", name, body)
		}
	}
	// 100 KB is past the HTTP server's own header limit: refused before
	// any handler runs.
	if resp, _ := gw.Do(t, "GET", "/orders", bearer(parts[0]+"."+strings.Repeat("A", 100<<10)+"."+parts[2])); resp.StatusCode != 431 && resp.StatusCode != 401 {
		t.Errorf("100 KB token: %d, want 431 or 401", resp.StatusCode)
	}
	if up.Count() != before {
		t.Fatalf("%d forged tokens reached the upstream", up.Count()-before)
	}
	if strings.Contains(gw.Logs(), parts[2]) {
		t.Fatal("a token signature appears in the logs")
	}
}

// issuerPublicKeyPEM fetches the provider's RSA key as PEM, the bytes an
// attacker would try as an HMAC secret.
func issuerPublicKeyPEM(t *testing.T, idp *oidcprovider.Provider) []byte {
	t.Helper()
	resp, err := http.Get(idp.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(set.Keys[0].Key.(*rsa.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
