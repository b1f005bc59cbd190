package authserver

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func cutDot(s string) (string, string, bool) { return strings.Cut(s, ".") }

func containsStr(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }

func TestCheckAuthorize(t *testing.T) {
	t.Parallel()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := newServer(t, m, fakeclock.New(), "pcl")
	good := url.Values{
		"response_type": {"code"}, "code_challenge": {challengeOf(testVerifier)}, "code_challenge_method": {"S256"},
		"resource": {testResource}, "scope": {"tools:read offline_access"}, "state": {"st"},
	}
	for _, c := range []struct {
		name         string
		edit         func(url.Values)
		code, reason string
		scopes       []string
	}{
		{"good", func(url.Values) {}, "", "", []string{"tools:read"}},
		{"no scope: the resource's", func(q url.Values) { q.Del("scope") }, "", "", []string{"tools:deploy", "tools:read"}},
		{"token response type", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type", "unsupported_response_type", nil},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge") }, "invalid_request", "pkce_missing", nil},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request", "pkce_method", nil},
		{"no PKCE method", func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request", "pkce_method", nil},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request", "pkce_malformed", nil},
		{"no resource", func(q url.Values) { q.Del("resource") }, "invalid_target", "resource_missing", nil},
		{"unknown resource", func(q url.Values) { q.Set("resource", "https://mcp.example.com/other") }, "invalid_target", "resource_unknown", nil},
		{"resource twice", func(q url.Values) { q.Add("resource", otherRes) }, "invalid_request", "repeated_parameter", nil},
		{"unknown scope", func(q url.Values) { q.Set("scope", "tools:read admin") }, "invalid_scope", "scope_unknown", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range good {
				q[k] = slices.Clone(v)
			}
			c.edit(q)
			req, aerr := s.CheckAuthorize(q, testClient, testRedirect)
			if c.code == "" {
				if aerr != nil {
					t.Fatal(aerr)
				}
				if !slices.Equal(req.Scopes, c.scopes) || req.State != "st" || req.Resource != testResource {
					t.Fatalf("request %+v", req)
				}
				return
			}
			if aerr == nil || aerr.Code != c.code || aerr.Reason != c.reason {
				t.Fatalf("got %v, want %s (%s)", aerr, c.code, c.reason)
			}
			if req.State != "st" {
				t.Fatal("the state is lost on an error")
			}
		})
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	res := map[string][]string{testResource: nil}
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"no issuer", Options{Store: m, Resources: res}},
		{"no store", Options{Issuer: testIssuer, Resources: res}},
		{"no resources", Options{Issuer: testIssuer, Store: m}},
		{"bad prefix", Options{Issuer: testIssuer, Store: m, Resources: res, Prefix: "a{b"}},
		{"negative lifetime", Options{Issuer: testIssuer, Store: m, Resources: res, AccessTokenLifetime: -1}},
	} {
		if _, err := New(c.o); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	if _, err := ParseKey([]byte("not pem")); err == nil {
		t.Fatal("accepted a non-PEM key")
	}
}
