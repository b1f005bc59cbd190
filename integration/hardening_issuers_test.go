package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Class 6: with two trusted issuers, a route accepts only the issuers it
// names, the upstream learns which issuer vouched for the caller, and a
// configuration that leaves the choice implicit does not validate.

const issuersAudience = "api://orders"

// issuersGateway trusts main and partner; /partner/* accepts only the
// partner's tokens, everything else only main's.
func issuersGateway(mainIss, partnerIss, up string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%s
	portcullis {
		jwt %s {
			name main
			audience %s
		}
		jwt %s {
			name partner
			audience %s
		}
	}
}

http://127.0.0.1:%d {
	portcullis_guard
	handle /partner/* {
		portcullis {
			issuers partner
			require orders:read
		}
		reverse_proxy %s
	}
	handle {
		portcullis {
			issuers main
			require orders:read
		}
		reverse_proxy %s
	}
}
`, p.Global(), mainIss, issuersAudience, partnerIss, issuersAudience, p.HTTP, up, up)
	}
}

// signedBy signs a valid access token at idp with claims overridden.
func signedBy(t *testing.T, idp *oidcprovider.Provider, over map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": idp.Issuer(), "sub": "alice", "aud": []string{issuersAudience}, "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok, err := idp.SignJWT(c, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func hardenIssuers(t *testing.T) {
	main, partner := oidcprovider.Start(t), oidcprovider.Start(t)
	up := startRecorder(t)
	t.Run("routes", func(t *testing.T) {
		gw := harness.StartGateway(t, issuersGateway(main.Issuer(), partner.Issuer(), up.Addr))
		host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
		issuerSeen := map[string]string{}
		for _, c := range []struct {
			name, target, token, forgedIssuer string
			want                              int
			from                              string // the issuer expected upstream
		}{
			{"main_token_main_route", "/orders/1", signedBy(t, main, nil), "", 200, "main"},
			{"partner_token_partner_route", "/partner/orders/1", signedBy(t, partner, nil), "", 200, "partner"},
			{"partner_token_main_route", "/orders/1", signedBy(t, partner, nil), "", 401, ""},
			{"main_token_partner_route", "/partner/orders/1", signedBy(t, main, nil), "", 401, ""},
			{"partner_key_claims_main_iss", "/orders/1", signedBy(t, partner, map[string]any{"iss": main.Issuer()}), "", 401, ""},
			{"main_key_claims_partner_iss", "/partner/orders/1", signedBy(t, main, map[string]any{"iss": partner.Issuer()}), "", 401, ""},
			{"main_iss_trailing_slash", "/orders/1", signedBy(t, main, map[string]any{"iss": main.Issuer() + "/"}), "", 401, ""},
			{"no_iss", "/orders/1", signedBy(t, main, map[string]any{"iss": nil}), "", 401, ""},
			{"forged_issuer_header", "/partner/orders/1", signedBy(t, partner, nil), "main", 200, "partner"},
			{"forged_issuer_header_on_main", "/orders/1", signedBy(t, main, nil), "partner", 200, "main"},
		} {
			t.Run(c.name, func(t *testing.T) {
				tag := newTag(c.name)
				h := hdrs("Authorization", "Bearer "+c.token, caseHeader, tag)
				if c.forgedIssuer != "" {
					h = append(h, [2]string{"X-Auth-Issuer", c.forgedIssuer}, [2]string{"x_auth_issuer", c.forgedIssuer})
				}
				resp := rawSend(t, host, rawReq{method: "GET", target: c.target, host: host, headers: h}.String())
				if c.want != 200 {
					checkRefusal(t, resp, c.want)
					checkNotForwarded(t, up, tag)
					return
				}
				g, ok := forwardedOnce(t, up, tag, resp)
				if resp.Status != 200 || !ok {
					t.Fatalf("status %d", resp.Status)
				}
				iss := g.Header.Values("X-Auth-Issuer")
				if len(iss) != 1 || iss[0] == "" {
					t.Fatalf("the upstream got X-Auth-Issuer %q, want one value naming %s", iss, c.from)
				}
				if prev, ok := issuerSeen[c.from]; ok && prev != iss[0] {
					t.Errorf("X-Auth-Issuer for %s is %q here and %q before", c.from, iss[0], prev)
				}
				issuerSeen[c.from] = iss[0]
				for from, v := range issuerSeen {
					if from != c.from && v == iss[0] {
						t.Errorf("main and partner reach the upstream as the same issuer %q", v)
					}
				}
				if _, ok := g.Header["X_auth_issuer"]; ok {
					t.Error("the client's x_auth_issuer reached the upstream")
				}
			})
		}
	})
	t.Run("validate", func(t *testing.T) { checkIssuersValidate(t, main.Issuer(), partner.Issuer()) })
}

// checkIssuersValidate: with two issuers, every route that accepts JWTs
// must name its issuers; names must exist.
func checkIssuersValidate(t *testing.T, mainIss, partnerIss string) {
	global := fmt.Sprintf("{\n\tadmin off\n\tportcullis {\n\t\tjwt %s {\n\t\t\tname main\n\t\t\taudience %s\n\t\t}\n%%s\t}\n}\n\nhttp://127.0.0.1:8080 {\n\tportcullis {\n%%s\t}\n\treverse_proxy 127.0.0.1:9\n}\n", mainIss, issuersAudience)
	_, block := newKey(t, "--subject", "issuers-validate", "--scopes", "orders:read")
	apiKeys := "\t\tapi_keys {\n\t\t\t" + block + "\n\t\t}\n"
	second := fmt.Sprintf("\t\tjwt %s {\n\t\t\tname partner\n\t\t\taudience %s\n\t\t}\n", partnerIss, issuersAudience)
	for _, c := range []struct {
		name, issuers, route string
		ok                   bool
	}{
		{"two_issuers_route_without_issuers", second, "\t\trequire orders:read\n", false},
		{"two_issuers_route_names_one", second, "\t\tissuers main\n\t\trequire orders:read\n", true},
		{"two_issuers_route_names_both", second, "\t\tissuers main partner\n\t\trequire orders:read\n", true},
		{"two_issuers_route_names_unknown", second, "\t\tissuers nosuch\n\t\trequire orders:read\n", false},
		{"two_issuers_api_key_route", second + apiKeys, "\t\taccept api_key\n\t\trequire orders:read\n", true},
		{"one_issuer_route_without_issuers", "", "\t\trequire orders:read\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(f, []byte(fmt.Sprintf(global, c.issuers, c.route)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := harness.Run(t, nil, "validate", "--config", f, "--adapter", "caddyfile")
			if (err == nil) != c.ok {
				t.Errorf("validate: error %v, want ok=%v\n%s", err, c.ok, out)
			}
			// A refusal must be about the issuers, with the line.
			if err != nil && !c.ok && (!strings.Contains(strings.ToLower(out), "issuer") || strings.Contains(out, "unrecognized")) {
				t.Errorf("validate refused the configuration for another reason than its issuers:\n%s", out)
			}
		})
	}
}
