package integration_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/integration/harness"
	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

// Class 9: identity values that collide with another identity or smuggle
// structure into a header; class 10: zero clock skew, and RFC 6750 codes
// on 403s. Tokens are signed by the real provider's key, as an issuer
// that lets users shape their claims (names, emails, custom groups)
// would sign them.

// claimsGateway: clock_skew 0s; /claims/* needs department=sales, /mcp
// an allowed origin; elsewhere POST needs orders:write, DELETE admin.
func claimsGateway(issuer, up string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[1]s
	portcullis {
		jwt %[2]s {
			audience %[3]s
			clock_skew 0s
		}
		scope orders:admin implies orders:write
		scope orders:write implies orders:read
	}
}

http://127.0.0.1:%[4]d {
	portcullis_guard
	handle /claims/* {
		portcullis {
			require orders:read
			require_claim department sales
		}
		reverse_proxy %[5]s
	}
	handle /mcp {
		portcullis {
			allowed_origins http://127.0.0.1:%[4]d
			require orders:read
		}
		reverse_proxy %[5]s
	}
	handle {
		portcullis {
			require orders:read
			require orders:write methods POST
			require admin methods DELETE
		}
		reverse_proxy %[5]s
	}
}
`, p.Global(), issuer, issuersAudience, p.HTTP, up)
	}
}

// claimCase is a token with claims overridden (nil deletes a claim) and
// what must happen: want 401/403 refused and not forwarded; 200 forwarded
// and check(upstream headers) holds; refuseOrCheck either.
type claimCase struct {
	name   string
	over   map[string]any
	method string
	target string
	origin string
	want   int
	check  func(t *testing.T, g recorded)
}

const refuseOrCheck = -2

// upstreamIs checks that the upstream read header h as something other
// than a value another principal could have (Go's parser, like every
// HTTP parser, trims surrounding whitespace).
func upstreamIsNot(h, other string) func(*testing.T, recorded) {
	return func(t *testing.T, g recorded) {
		if g.Header.Get(h) == other {
			t.Errorf("the upstream reads %s as %q, another principal's value", h, other)
		}
	}
}

func claimCorpus() []claimCase {
	noScope := func(scp ...string) map[string]any { return map[string]any{"scope": nil, "scp": scp} }
	return []claimCase{
		{name: "sub_nul", over: map[string]any{"sub": "reader-bot\x00"}, want: 401},
		{name: "sub_lf", over: map[string]any{"sub": "reader-bot\n"}, want: 401},
		{name: "sub_cr", over: map[string]any{"sub": "reader-bot\r"}, want: 401},
		{name: "sub_crlf_header_injection", over: map[string]any{"sub": "x\r\nX-Auth-Scopes: admin"}, want: 401},
		{name: "sub_tab", over: map[string]any{"sub": "reader\tbot"}, want: 401},
		{name: "sub_del", over: map[string]any{"sub": "reader-bot\x7f"}, want: 401},
		{name: "sub_esc", over: map[string]any{"sub": "\x1b[31mreader-bot"}, want: 401},
		{name: "sub_c1_nel", over: map[string]any{"sub": "reader-bot\u0085"}, want: 401},
		{name: "sub_c1_csi", over: map[string]any{"sub": "\u009breader-bot"}, want: 401},
		{name: "name_crlf", over: map[string]any{"name": "Mallory\r\nX-Auth-Subject: admin"}, want: 401},
		{name: "name_tab", over: map[string]any{"name": "Mal\tlory"}, want: 401},
		{name: "name_del", over: map[string]any{"name": "Mallory\x7f"}, want: 401},
		{name: "name_c1", over: map[string]any{"name": "Mallory\u0080"}, want: 401},
		{name: "name_nul", over: map[string]any{"name": "Mallory\x00"}, want: 401},
		{name: "email_lf", over: map[string]any{"email": "mallory@example.com\n"}, want: 401},
		{name: "email_tab", over: map[string]any{"email": "mallory@example.com\t"}, want: 401},
		{name: "email_nul", over: map[string]any{"email": "root@example.com\x00.evil"}, want: 401},
		{name: "group_control", over: map[string]any{"groups": []string{"staff\n"}}, want: 401},
		{name: "group_nul", over: map[string]any{"groups": []string{"admins\x00"}}, want: 401},
		{name: "group_with_comma", over: map[string]any{"groups": []string{"staff,admins"}}, want: 200, check: func(t *testing.T, g recorded) {
			v := g.Header.Get("X-Auth-Groups")
			if slices.Contains(strings.Split(v, ","), "admins") || !strings.Contains(v, "staff%2Cadmins") {
				t.Errorf("X-Auth-Groups %q: want the one group percent-encoded (staff%%2Cadmins), never admins", v)
			}
		}},
		{name: "groups_two", over: map[string]any{"groups": []string{"staff", "admins"}}, want: 200, check: func(t *testing.T, g recorded) {
			if v := g.Header.Get("X-Auth-Groups"); v != "staff,admins" {
				t.Errorf("X-Auth-Groups %q, want staff,admins", v)
			}
		}},
		{name: "scp_element_with_space", over: noScope("orders:read", "orders:write admin"), want: 401},
		{name: "scp_only_element_with_space", over: noScope("orders:read admin"), want: 401},
		{name: "scp_element_with_nul", over: noScope("orders:read\x00"), want: 401},
		{name: "scope_tab", over: map[string]any{"scope": "orders:read\tadmin"}, want: 401},
		{name: "scope_newline", over: map[string]any{"scope": "orders:read\nadmin"}, want: 401},
		{name: "scope_string_two_scopes", over: map[string]any{"scope": "orders:read admin"}, want: 200, check: func(t *testing.T, g recorded) {
			got := strings.Fields(g.Header.Get("X-Auth-Scopes"))
			slices.Sort(got)
			if !slices.Equal(got, []string{"admin", "orders:read"}) {
				t.Errorf("X-Auth-Scopes %q, want exactly the two granted scopes", g.Header.Get("X-Auth-Scopes"))
			}
		}},
		{name: "scope_string_admin_may_delete", over: map[string]any{"scope": "orders:read admin"}, method: "DELETE", want: 200},
		{name: "scope_comma_is_one_scope", over: map[string]any{"scope": "orders:read,orders:write"}, want: 403},
		// Beyond the issue: values an upstream reads as another principal's.
		{name: "sub_trailing_space", over: map[string]any{"sub": "admin "}, want: refuseOrCheck, check: upstreamIsNot("X-Auth-Subject", "admin")},
		{name: "sub_leading_space", over: map[string]any{"sub": " admin"}, want: refuseOrCheck, check: upstreamIsNot("X-Auth-Subject", "admin")},
		{name: "email_trailing_space", over: map[string]any{"email": "root@example.com "}, want: refuseOrCheck, check: upstreamIsNot("X-Auth-Email", "root@example.com")},
		{name: "sub_empty", over: map[string]any{"sub": ""}, want: 401},
		{name: "sub_missing", over: map[string]any{"sub": nil}, want: 401},
		{name: "sub_not_a_string", over: map[string]any{"sub": 42}, want: 401},
		{name: "case_variant_sub_claim", over: map[string]any{"sub": "reader-bot", "SUB": "admin", "Sub": "admin"}, want: refuseOrCheck, check: upstreamIsNot("X-Auth-Subject", "admin")},
		{name: "case_variant_scope_claim", over: map[string]any{"scope": "orders:read", "Scope": "orders:admin", "SCOPE": "orders:admin"}, method: "POST", want: 403},
		// Class 10.
		{name: "class10_skew_zero_expired_1s", over: map[string]any{"exp": time.Now().Unix() - 1}, want: 401},
		{name: "class10_skew_zero_nbf_in_2s", over: map[string]any{"nbf": time.Now().Unix() + 2}, want: 401},
		{name: "class10_skew_zero_fresh", over: map[string]any{"exp": time.Now().Unix() + 60}, want: 200},
		{name: "class10_claim_mismatch_403", over: map[string]any{"department": "marketing"}, target: "/claims/x", want: 403},
		{name: "class10_claim_missing_403", target: "/claims/x", want: 403},
		{name: "class10_claim_ok", over: map[string]any{"department": "sales"}, target: "/claims/x", want: 200},
		{name: "class10_origin_403", target: "/mcp", origin: "http://evil.example", want: 403},
	}
}

func hardenClaims(t *testing.T)     { runClaims(t, false) }
func hardenDeviations(t *testing.T) { runClaims(t, true) }

// runClaims runs the class 9 cases, or the class 10 ones.
func runClaims(t *testing.T, class10 bool) {
	idp := oidcprovider.Start(t)
	up := startRecorder(t)
	gw := harness.StartGateway(t, claimsGateway(idp.Issuer(), up.Addr))
	host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	for _, c := range claimCorpus() {
		if strings.HasPrefix(c.name, "class10_") != class10 {
			continue
		}
		t.Run(strings.TrimPrefix(c.name, "class10_"), func(t *testing.T) {
			tag := newTag(c.name)
			over := map[string]any{"sub": "reader-bot"}
			for k, v := range c.over {
				over[k] = v
			}
			method, target := c.method, c.target
			if method == "" {
				method = "GET"
			}
			if target == "" {
				target = "/orders/1"
			}
			h := hdrs("Authorization", "Bearer "+signedBy(t, idp, over), caseHeader, tag)
			if c.origin != "" {
				h = append(h, [2]string{"Origin", c.origin})
			}
			resp := rawSend(t, host, rawReq{method: method, target: target, host: host, headers: h}.String())
			switch {
			case c.want == 401 || c.want == 403 || (c.want == refuseOrCheck && resp.Status != 200):
				checkRefusal(t, resp, map[bool]int{true: anyRefusal, false: c.want}[c.want == refuseOrCheck])
				checkNotForwarded(t, up, tag)
				if wa := resp.Header.Get("WWW-Authenticate"); resp.Status == 403 && strings.Contains(wa, "access_denied") {
					t.Errorf("a 403 with error=\"access_denied\", not an RFC 6750 code: %s", wa)
				}
			default:
				if resp.Status != 200 {
					t.Fatalf("status %d, want 200: %s %.200s", resp.Status, resp.Header.Get("WWW-Authenticate"), resp.Body)
				}
				if g, ok := forwardedOnce(t, up, tag, resp); ok && c.check != nil {
					c.check(t, g)
				}
			}
		})
	}
	if class10 {
		t.Run("skew_zero_key_rotation", checkSkewZeroRotation)
	} else {
		t.Run("group_percent_and_comma_distinct", func(t *testing.T) {
			seen := map[string]string{}
			for _, grp := range []string{"staff,admins", "staff%2Cadmins", "staff%252Cadmins"} {
				tag := newTag("groups")
				tok := signedBy(t, idp, map[string]any{"sub": "reader-bot", "groups": []string{grp}})
				resp := rawSend(t, host, rawReq{method: "GET", target: "/orders/1", host: host, headers: hdrs("Authorization", "Bearer "+tok, caseHeader, tag)}.String())
				g, ok := forwardedOnce(t, up, tag, resp)
				if !ok {
					continue
				}
				v := g.Header.Get("X-Auth-Groups")
				if prev, dup := seen[v]; dup {
					t.Errorf("groups %q and %q both reach the upstream as X-Auth-Groups %q", prev, grp, v)
				}
				seen[v] = grp
			}
		})
	}
}
