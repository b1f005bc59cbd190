package integration_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/harness"
)

// Class 4, overrides: a POST that the upstream's framework runs as a
// DELETE (X-HTTP-Method-Override and kin), or as another URL
// (X-Original-URL, X-Rewrite-URL), must not be authorized as the POST it
// looks like. By default the headers are stripped; with
// allow_method_override the overriding method is the one authorized.

// overrideNames are the method- and URL-override headers frameworks
// honour (Express method-override, Symfony/Laravel, Rails, ASP.NET,
// IIS URL Rewrite, nginx auth_request, Zend/Laminas).
var overrideNames = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-URL", "X-Rewrite-URL", "X-Original-Method", "X-Original-URI"}

type overrideCase struct {
	name    string
	method  string
	target  string
	key     string // reader, writer or admin
	headers [][2]string
	ctype   string
	body    string
	want    int // 200: forwarded (without any override header); else refused with this status (0: any 4xx)
}

// stripOrRefuse: refused, or forwarded without the override header.
const stripOrRefuse = -3

var defaultOverrideCases = []overrideCase{
	{name: "method_override_delete", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "DELETE"), want: 200},
	{name: "x_http_method_delete", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method", "DELETE"), want: 200},
	{name: "x_method_override_delete", method: "POST", key: "writer", headers: hdrs("X-Method-Override", "DELETE"), want: 200},
	{name: "lowercase_name", method: "POST", key: "writer", headers: hdrs("x-http-method-override", "DELETE"), want: 200},
	{name: "underscore_name", method: "POST", key: "writer", headers: hdrs("X_HTTP_Method_Override", "DELETE"), want: 200},
	{name: "repeated", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "PUT", "X-HTTP-Method-Override", "DELETE"), want: 200},
	{name: "original_url", method: "GET", target: "/orders/1", key: "reader", headers: hdrs("X-Original-URL", "/admin/users"), want: 200},
	{name: "rewrite_url", method: "GET", target: "/orders/1", key: "reader", headers: hdrs("X-Rewrite-URL", "/admin/users"), want: 200},
	{name: "original_method", method: "POST", key: "writer", headers: hdrs("X-Original-Method", "DELETE"), want: 200},
	{name: "original_uri", method: "GET", target: "/orders/1", key: "reader", headers: hdrs("X-Original-URI", "/admin/users"), want: 200},
	{name: "read_key_override_get", method: "POST", key: "reader", headers: hdrs("X-HTTP-Method-Override", "GET"), want: 403},
	// Beyond the list: the method spelled in other places that
	// mainstream frameworks read.
	{name: "query_method_param", method: "POST", target: "/orders/1?_method=DELETE", key: "writer", want: 200},
	{name: "form_method_param", method: "POST", key: "writer", ctype: "application/x-www-form-urlencoded", body: "_method=DELETE&id=1", want: anyRefusal},
	{name: "lowercase_http_method", method: "post", key: "reader", want: anyRefusal},
	{name: "mixed_case_http_method", method: "Delete", key: "writer", want: anyRefusal},
}

// optInCases run where the route has allow_method_override.
var optInCases = []overrideCase{
	{name: "writer_override_delete", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "DELETE"), want: 403},
	{name: "writer_x_http_method_delete", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method", "DELETE"), want: 403},
	{name: "writer_x_method_override_delete", method: "POST", key: "writer", headers: hdrs("X-Method-Override", "DELETE"), want: 403},
	{name: "writer_lowercase_delete", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "delete"), want: anyRefusal},
	{name: "writer_underscore_name", method: "POST", key: "writer", headers: hdrs("X_HTTP_Method_Override", "DELETE"), want: stripOrRefuse},
	{name: "writer_two_overrides", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "PUT", "X-HTTP-Method-Override", "DELETE"), want: anyRefusal},
	{name: "writer_conflicting_names", method: "POST", key: "writer", headers: hdrs("X-HTTP-Method-Override", "PUT", "X-HTTP-Method", "DELETE"), want: anyRefusal},
	{name: "admin_override_delete", method: "POST", key: "admin", headers: hdrs("X-HTTP-Method-Override", "DELETE"), want: 200},
	{name: "reader_override_get", method: "POST", key: "reader", headers: hdrs("X-HTTP-Method-Override", "GET"), want: 200},
}

func hardenOverrides(t *testing.T, keys headerKeys, akey string, up *recorder, host string) {
	byName := map[string]string{"reader": keys.reader, "writer": keys.writer, "admin": keys.admin}
	for _, c := range defaultOverrideCases {
		t.Run("override/"+c.name, func(t *testing.T) { runOverride(t, c, byName[c.key], up, host, false) })
	}
	t.Run("allow_method_override", func(t *testing.T) {
		gw := harness.StartGateway(t, headersGateway(up.Addr, keys.blocks, akey, "allow_method_override"))
		host := fmt.Sprintf("127.0.0.1:%d", gw.Ports.HTTP)
		for _, c := range optInCases {
			t.Run(c.name, func(t *testing.T) { runOverride(t, c, byName[c.key], up, host, true) })
		}
	})
}

func runOverride(t *testing.T, c overrideCase, key string, up *recorder, host string, optIn bool) {
	tag := newTag(c.name)
	target := c.target
	if target == "" {
		target = "/orders/1"
	}
	ctype, body := c.ctype, c.body
	if ctype == "" {
		ctype, body = "application/json", "{}"
	}
	if c.method == "GET" {
		ctype, body = "", ""
	}
	h := append(hdrs("Authorization", "Bearer "+key, caseHeader, tag), c.headers...)
	if ctype != "" {
		h = append(h, [2]string{"Content-Type", ctype})
	}
	resp := rawSend(t, host, rawReq{method: c.method, target: target, host: host, headers: h, body: body}.String())
	if c.want == stripOrRefuse {
		optIn = false // judged as a default case: forwarded only without the header
	} else if c.want != 200 {
		checkRefusal(t, resp, c.want)
		checkNotForwarded(t, up, tag)
		return
	}
	if resp.Status != 200 {
		checkRefusal(t, resp, anyRefusal)
		checkNotForwarded(t, up, tag)
		t.Logf("refused with %d (the issue allows stripping or refusing)", resp.Status)
		return
	}
	g, ok := forwardedOnce(t, up, tag, resp)
	if !ok {
		return
	}
	if optIn {
		// Kept, and authorized as what it names.
		if len(c.headers) > 0 && g.Header.Get(c.headers[0][0]) == "" {
			t.Errorf("allow_method_override dropped %s", c.headers[0][0])
		}
		return
	}
	for k := range g.Header {
		for _, o := range overrideNames {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), o) {
				t.Errorf("the override header %s: %v reached the upstream", k, g.Header[k])
			}
		}
	}
	if u, err := url.ParseRequestURI(g.RequestURI); err == nil && u.Query().Has("_method") {
		t.Errorf("a POST authorized as POST reached the upstream with ?_method=%s (Symfony and Laravel run it as that method)", u.Query().Get("_method"))
	}
}
