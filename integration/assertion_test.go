package integration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// TestSignedAssertionVerifiesWithJWKS plays a backend that trusts no
// header: it verifies the gateway's signed assertion with a standard JOSE
// library and nothing but the gateway's JWKS URL.
func TestSignedAssertionVerifiesWithJWKS(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "assertion.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	apiKey, block := newKey(t, "--subject", "ci-bot", "--scopes", "orders:read")
	up := harness.StartUpstream(t)
	gw := harness.StartGateway(t, func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		api_keys {
			%s
		}
		assertion {
			key {file.%s}
			issuer https://gateway.test
		}
	}
}

http://127.0.0.1:%d {
	portcullis {
		assertion orders-api
	}
	reverse_proxy %s
}
`, p.Global(), block, keyFile, p.HTTP, up.Addr)
	})

	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	resp, _ := gw.Do(t, "GET", "/orders", map[string]string{"Authorization": "Bearer " + apiKey, "X-Auth-Assertion": forged, "x_auth_assertion": forged})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := up.Received()[0]
	if vs := got.Values("X-Auth-Assertion"); len(vs) != 1 || vs[0] == forged || got.Get("X_auth_assertion") != "" {
		t.Fatalf("assertion headers upstream: %v", got)
	}

	// The backend: only the JWKS URL.
	_, body := gw.Do(t, "GET", "/.well-known/portcullis/jwks.json", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %s", err, body)
	}
	tok, err := jwt.ParseSigned(got.Get("X-Auth-Assertion"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		jwt.Claims
		Scope  string `json:"scope"`
		Method string `json:"auth_method"`
	}
	if err := tok.Claims(set.Key(tok.Headers[0].KeyID)[0].Key, &claims); err != nil {
		t.Fatalf("signature does not verify with the JWKS: %v", err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: "https://gateway.test", AnyAudience: jwt.Audience{"orders-api"}, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "ci-bot" || claims.Scope != "orders:read" || claims.Method != "api_key" {
		t.Fatalf("claims: %+v", claims)
	}
	if life := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); life > 2*time.Minute {
		t.Fatalf("assertion lives %s", life)
	}
}
