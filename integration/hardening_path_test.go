package integration_test

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 2: request paths the route matcher and the upstream read
// differently. Each spelling is sent raw to four sites: one protected by
// a route matcher (`portcullis /orders/*`), one protecting everything
// but `allow_anonymous /public/*`, and the same route matcher written as
// Caddy users often write it, with the handler inside a `handle
// /orders/*` or `route /orders/*` block (which needs `portcullis_guard`
// at the site level: without it the Caddyfile is refused, see
// TestValidateNestedNeedsGuard); a fifth site opts out.

// pathSites is one gateway with the four sites, told apart by Host.
func pathSites(up, keyBlock string) harness.Caddyfile {
	return func(p harness.Ports) string {
		return fmt.Sprintf(`{
	%[1]s
	portcullis {
		api_keys {
			%[2]s
		}
	}
}

http://route.test:%[3]d {
	bind 127.0.0.1
	portcullis /orders/* {
		require orders:read
	}
	reverse_proxy %[4]s
}

http://anon.test:%[3]d {
	bind 127.0.0.1
	portcullis {
		allow_anonymous /public/*
		require orders:read
	}
	reverse_proxy %[4]s
}

http://handle.test:%[3]d {
	bind 127.0.0.1
	portcullis_guard
	handle /orders/* {
		portcullis {
			require orders:read
		}
		reverse_proxy %[4]s
	}
	handle {
		reverse_proxy %[4]s
	}
}

http://routeblock.test:%[3]d {
	bind 127.0.0.1
	portcullis_guard
	route /orders/* {
		portcullis {
			require orders:read
		}
		reverse_proxy %[4]s
	}
	reverse_proxy %[4]s
}
`, p.Global(), keyBlock, p.HTTP, up)
	}
}

// What a spelling must get.
type pathKind int

const (
	strict400 pathKind = iota // the contract: 400 before any matcher
	beyond400                 // not named by the issue, refused by strict firewalls (Spring's StrictHttpFirewall): 400
	document                  // any answer, but never the protected resource without credentials
	ordinary                  // an unambiguous path: reaches the upstream as sent (with a key where protected)
)

type pathCase struct {
	name   string
	target string // {host} is replaced by the site's host:port
	kind   pathKind
	method string
}

func pathCorpus() []pathCase {
	return []pathCase{
		{"semicolon_param", "/orders;x=1/1", strict400, ""},
		{"semicolon_empty", "/orders;/1", strict400, ""},
		{"semicolon_jsessionid", "/orders/1;jsessionid=abc", strict400, ""},
		{"semicolon_dotdot", "/public/..;/orders/1", strict400, ""},
		{"semicolon_dotdot_param", "/public/..;x=y/orders/1", strict400, ""},
		{"semicolon_upper_segment", "/ORDERS;x/1", strict400, ""},
		{"backslash_raw", `/public/..\orders/1`, strict400, ""},
		{"backslash_only", `/public\..\orders\1`, strict400, ""},
		{"backslash_encoded", "/public/..%5Corders/1", strict400, ""},
		{"backslash_encoded_lower", "/public/..%5corders/1", strict400, ""},
		{"backslash_encoded_around", "/public/%5C..%5Corders/1", strict400, ""},
		{"dotdot_raw", "/public/../orders/1", strict400, ""},
		{"dot_leading", "/./orders/1", strict400, ""},
		{"dot_inside", "/orders/./1", strict400, ""},
		{"dotdot_self", "/orders/../orders/1", strict400, ""},
		{"dotdot_trailing", "/orders/1/..", strict400, ""},
		{"dot_trailing", "/orders/1/.", strict400, ""},
		{"dotdot_double_slash", "/public//../orders/1", strict400, ""},
		{"dotdot_encoded_lower", "/public/%2e%2e/orders/1", strict400, ""},
		{"dotdot_encoded_upper", "/public/%2E%2E/orders/1", strict400, ""},
		{"dotdot_encoded_mixed", "/public/%2E%2e/orders/1", strict400, ""},
		{"dotdot_half_encoded_second", "/public/.%2e/orders/1", strict400, ""},
		{"dotdot_half_encoded_first", "/public/%2e./orders/1", strict400, ""},
		{"dot_encoded", "/orders/%2e/1", strict400, ""},
		{"slash_encoded", "/public/..%2forders/1", strict400, ""},
		{"slash_encoded_upper", "/public/..%2Forders/1", strict400, ""},
		{"slash_encoded_everywhere", "/public%2f..%2forders%2f1", strict400, ""},
		{"slash_encoded_in_orders", "/orders%2F1", strict400, ""},
		{"slash_encoded_leading", "/%2forders/1", strict400, ""},
		{"nul_end", "/orders/1%00", strict400, ""},
		{"nul_middle", "/orders%00/1", strict400, ""},
		{"nul_truncation", "/public/x%00/../../orders/1", strict400, ""},
		{"lf_encoded", "/orders/1%0a", strict400, ""},
		{"cr_encoded", "/orders/1%0D", strict400, ""},
		{"crlf_header_injection", "/orders/1%0d%0aX-Auth-Subject:%20admin", strict400, ""},
		{"tab_encoded", "/orders/1%09", strict400, ""},
		{"del_encoded", "/orders/1%7f", strict400, ""},
		{"esc_encoded", "/orders/1%1b", strict400, ""},
		{"c1_nel_encoded", "/orders/1%c2%85", strict400, ""},
		{"tab_raw", "/orders/1\t", strict400, ""},
		{"del_raw", "/orders/1\x7f", strict400, ""},
		{"invalid_percent_hex", "/orders/%zz", strict400, ""},
		{"invalid_percent_truncated", "/orders/1%", strict400, ""},
		{"invalid_percent_one_digit", "/orders/1%2", strict400, ""},
		{"iis_percent_u_dots", "/public/%u002e%u002e/orders/1", strict400, ""},
		{"iis_percent_u_backslash", "/public/..%u005corders/1", strict400, ""},
		{"overlong_dot_2byte", "/public/%c0%ae%c0%ae/orders/1", strict400, ""},
		{"overlong_dot_3byte", "/public/%e0%80%ae%e0%80%ae/orders/1", strict400, ""},
		{"overlong_slash", "/public/..%c0%aforders/1", strict400, ""},
		{"overlong_backslash", "/public/..%c1%9corders/1", strict400, ""},
		{"fragment_dotdot", "/orders/1#/../../public/x", strict400, ""},
		{"encoded_question_dotdot", "/public/x%3f/../../orders/1", strict400, ""},
		{"encoded_hash_dotdot", "/public/x%23/../../orders/1", strict400, ""},
		{"absolute_form_dotdot", "http://{host}/public/..;/orders/1", strict400, ""},
		{"absolute_form_encoded_dotdot", "http://{host}/public/%2e%2e/orders/1", strict400, ""},
		{"double_encoded_dotdot", "/public/%252e%252e/orders/1", beyond400, ""},
		{"double_encoded_slash", "/public/..%252forders/1", beyond400, ""},
		{"double_encoded_backslash", "/public/..%255corders/1", beyond400, ""},
		{"encoded_semicolon", "/orders%3bx=1/1", beyond400, ""},
		{"double_slash", "//orders/1", document, ""},
		{"triple_slash", "///orders/1", document, ""},
		{"upper_case", "/ORDERS/1", document, ""},
		{"mixed_case", "/Orders/1", document, ""},
		{"upper_case_public", "/PUBLIC/x", document, ""},
		{"fragment_plain", "/public/x#frag", document, ""},
		{"query_dotdot", "/public/x?/../../orders/1", document, ""},
		{"query_semicolon", "/public/x?a=1;/../orders", document, ""},
		{"three_dots", "/public/.../orders/1", document, ""},
		{"fullwidth_dots", "/public/%ef%bc%8e%ef%bc%8e/orders/1", document, ""},
		{"trailing_dot_segment", "/orders./1", document, ""},
		{"trailing_space_segment", "/orders%20/1", document, ""},
		{"trailing_dot_space_segment", "/orders.%20./1", document, ""},
		{"invalid_utf8", "/orders/%ff", document, ""},
		{"absolute_form", "http://{host}/orders/1", document, ""},
		{"absolute_form_other_host", "http://evil.test/orders/1", document, ""},
		{"absolute_form_userinfo", "http://admin@{host}/orders/1", document, ""},
		{"no_leading_slash", "orders/1", document, ""},
		{"asterisk_form", "*", document, "OPTIONS"},
		{"connect_authority_form", "{host}", document, "CONNECT"},
		{"ordinary_public", "/public/x", ordinary, ""},
		{"ordinary_encoded_space", "/public/a%20b", ordinary, ""},
		{"ordinary_utf8", "/public/caf%C3%A9", ordinary, ""},
		{"ordinary_query_with_dots", "/public/x?path=../../orders&b=%2F", ordinary, ""},
		{"ordinary_orders_with_key", "/orders/1", ordinary, ""},
	}
}

func hardenPaths(t *testing.T) {
	key, block := newKey(t, "--subject", "path-reader", "--scopes", "orders:read")
	up := startRecorder(t)
	gw := harness.StartGateway(t, pathSites(up.Addr, block))
	addr := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
	for _, site := range []string{"route", "anon", "handle", "routeblock"} {
		host := site + ".test:" + strconv.Itoa(gw.Ports.HTTP)
		for _, c := range pathCorpus() {
			t.Run(site+"/"+c.name, func(t *testing.T) {
				tag := newTag(c.name)
				target := strings.ReplaceAll(c.target, "{host}", host)
				h := hdrs(caseHeader, tag)
				if c.kind == ordinary {
					h = append(h, [2]string{"Authorization", "Bearer " + key})
				}
				method := c.method
				if method == "" {
					method = "GET"
				}
				resp := rawSend(t, addr, rawReq{method: method, target: target, host: host, headers: h}.String())
				got := up.tagged(tag)
				switch c.kind {
				case strict400, beyond400:
					checkRefusal(t, resp, 400)
					checkNotForwarded(t, up, tag)
				case ordinary:
					if resp.Status != 200 {
						t.Fatalf("an unambiguous path is refused: %d %.300s", resp.Status, resp.Body)
					}
					if g, ok := forwardedOnce(t, up, tag, resp); ok && g.RequestURI != target {
						t.Errorf("the upstream received %q, want %q as sent", g.RequestURI, target)
					}
				case document:
					t.Logf("%s %q: %d, reached the upstream %d times %v", method, target, resp.Status, len(got), uris(got))
				}
				for _, g := range got {
					if v := upstreamReading(g.RequestURI); g.Header.Get("X-Auth-Subject") == "" && protected(site, v) {
						t.Errorf("reached the upstream without credentials as %q, which a lenient server reads as %q", g.RequestURI, v)
					}
				}
			})
		}
	}
	t.Run("opt_out", func(t *testing.T) { hardenPathOptOut(t, up, key, block) })
	t.Run("opt_out_other_route", func(t *testing.T) { hardenMixedOptOut(t, up, block) })
}

func uris(rs []recorded) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.RequestURI)
	}
	return out
}

// protected reports whether a path, as the upstream reads it, is one the
// site protects.
func protected(site, p string) bool {
	if site == "anon" {
		return !strings.HasPrefix(p, "/public/")
	}
	return p == "/orders" || strings.HasPrefix(p, "/orders/")
}

// upstreamReading is the most lenient reading of a request target that
// some mainstream server makes: fragment and query dropped, percent
// escapes (and IIS %u escapes, and overlong UTF-8) decoded up to three
// times, NUL ending the path, '\' a separator (IIS), ';' parameters
// dropped from segments (Tomcat, Jetty), case folded and trailing dots
// and spaces of segments dropped (IIS, Windows file names), dot segments
// resolved and slashes merged.
func upstreamReading(target string) string {
	p := target
	if i := strings.Index(p, "://"); i >= 0 {
		rest := p[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			p = rest[j:]
		} else {
			p = "/"
		}
	}
	p, _, _ = strings.Cut(p, "?")
	p, _, _ = strings.Cut(p, "#")
	for range 3 {
		p = lenientUnescape(p)
	}
	p = strings.NewReplacer("\xc0\xae", ".", "\xe0\x80\xae", ".", "\xc0\xaf", "/", "\xc1\x9c", `\`).Replace(p)
	p, _, _ = strings.Cut(p, "\x00")
	p = strings.ReplaceAll(p, `\`, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		s, _, _ = strings.Cut(s, ";")
		if s != "." && s != ".." {
			s = strings.TrimRight(s, ". ")
		}
		segs[i] = s
	}
	return path.Clean("/" + strings.ToLower(strings.Join(segs, "/")))
}

// lenientUnescape decodes %XX and %uXXXX escapes, keeping invalid ones.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
				if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
					b.WriteRune(rune(v))
					i += 5
					continue
				}
			}
			if i+2 < len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 2
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
