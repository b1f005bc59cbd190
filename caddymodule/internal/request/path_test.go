package request

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

// ambiguousPaths are spellings that some server behind the gateway
// reads as another path than the one Caddy's matchers see (Tomcat and
// Spring for ';', IIS for '\', everyone differently for dot segments,
// encoded slashes and double encoding).
var ambiguousPaths = []string{
	"/orders;x=1/1",
	"/orders;/1",
	"/orders/1;jsessionid=abc",
	"/public/..;/orders/1",
	"/public/..;x=y/orders/1",
	"/public/%2e%2e;/orders",
	"/public/..\\orders/1",
	"/public\\..\\orders",
	"/public/..%5Corders/1",
	"/public/..%5corders/1",
	"/public/%5C../orders",
	"/public/../orders/1",
	"/public/./../orders/1",
	"/public/%2e%2e/orders/1",
	"/public/%2E%2E/orders/1",
	"/public/.%2e/orders/1",
	"/public/%2e./orders/1",
	"/public/%2e/orders",
	"/public/.",
	"/public/..",
	"/./orders",
	"/../orders",
	"/orders/%2e%2e",
	"/public%2F..%2Forders",
	"/public%2forders",
	"/orders%2F1",
	"/public/%252e%252e/orders",
	"/orders%251",
	"/orders%00",
	"/orders/1%00.json",
	"/orders%0a",
	"/orders%0d%0aX-Injected:1",
	"/orders%09",
	"/orders%7f",
	"/orders%3b/1",
	"/orders%3B/1",
	"/orders%",
	"/orders%2",
	"/orders%zz",
	"/orders%G0",
	"/public/%c0%ae%c0%ae/orders",
	"/public/%c0%af../orders",
	"/public/%e0%80%ae%e0%80%ae/orders",
	"/orders%ff",
	"/orders%ed%a0%80",
	"//orders/1",
	"/public//../orders",
	"/orders//1",
	"orders/1",
	"*",
	"",
	"/orders 1",
	"/orders\t1",
	"/orders\x00",
	"/orders\x7f",
	"/orders\"",
	"/orders<script>",
	"/orders|1",
	"/orders`",
	"/orders{1}",
	"/orders^1",
	"/ordérs",
	"/orders./1",
	"/orders%20/1",
	"/orders.%20./1",
	"/orders/1.",
	"/orders/...",
	"/orders/x..",
	"/orders%C2%85/1",
	"/orders%c2%9f",
}

// clearPaths read the same everywhere.
var clearPaths = []string{
	"/",
	"/orders",
	"/orders/",
	"/orders/1",
	"/orders/1.json",
	"/orders/..x",
	"/orders/.x",
	"/orders/.well-known",
	"/orders/a-b_c~d",
	"/orders/%20space",
	"/orders/caf%C3%A9",
	"/orders/%E2%82%AC",
	"/orders/a:b@c",
	"/orders/!$&'()*+,=",
	"/.well-known/oauth-protected-resource/mcp",
	"/ORDERS/1",
}

func TestCheckPathRefusesAmbiguous(t *testing.T) {
	t.Parallel()
	if len(ambiguousPaths) < 40 {
		t.Fatalf("the corpus has %d spellings, want at least 40", len(ambiguousPaths))
	}
	for _, p := range ambiguousPaths {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			err := CheckPath(p)
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("CheckPath(%q) = %v, want ErrAmbiguousPath", p, err)
			}
		})
	}
}

func TestCheckPathAcceptsClear(t *testing.T) {
	t.Parallel()
	for _, p := range clearPaths {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			if err := CheckPath(p); err != nil {
				t.Fatalf("CheckPath(%q) = %v, want nil", p, err)
			}
		})
	}
}

// TestCheckPathThroughGoURL checks the paths as the gateway sees them:
// parsed by net/url from a request target, then URL.EscapedPath. Raw
// characters that Go re-escapes (space, '|', non-ASCII …) become an
// unambiguous encoded path; every other spelling is still refused.
func TestCheckPathThroughGoURL(t *testing.T) {
	t.Parallel()
	for _, p := range ambiguousPaths {
		u, err := url.ParseRequestURI(p)
		if err != nil {
			continue // Go's server refuses it before any handler
		}
		if e := u.EscapedPath(); CheckPath(e) == nil {
			assertUnambiguous(t, e)
		}
	}
}

// FuzzCheckPath asserts the property the gateway relies on: a path it
// accepts decodes to one clean path that no server reads otherwise.
func FuzzCheckPath(f *testing.F) {
	for _, p := range append(append([]string{}, ambiguousPaths...), clearPaths...) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) == nil {
			assertUnambiguous(t, p)
		}
	})
}

// assertUnambiguous fails unless the accepted path p decodes to a clean
// path: no dot or empty segment, no ';' '\' or NUL, nothing path.Clean
// changes, no '/' that decoding adds.
func assertUnambiguous(t *testing.T, p string) {
	t.Helper()
	dec, err := url.PathUnescape(p)
	if err != nil {
		t.Fatalf("accepted %q, which does not decode: %v", p, err)
	}
	if strings.ContainsAny(dec, ";\\\x00") {
		t.Fatalf("accepted %q, which decodes to %q", p, dec)
	}
	if dec != "/" && path.Clean(dec) != strings.TrimSuffix(dec, "/") {
		t.Fatalf("accepted %q: decoded %q cleans to %q", p, dec, path.Clean(dec))
	}
	if strings.Count(p, "/") != strings.Count(dec, "/") {
		t.Fatalf("accepted %q: decoding adds a '/'", p)
	}
}

func TestCheckPathLenient(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/orders;jsessionid=abc/1", "/a%2Fb", "/a%25b", "//x", "/orders/1;v=2"} {
		if err := CheckPathLenient(p); err != nil {
			t.Errorf("CheckPathLenient(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/public/..;/orders", "/public/..;x/orders", "/public/../orders", "/public/%2e%2e/orders",
		"/public/..%5Corders", "/public\\orders", "/orders%00", "/orders./1", "/orders%c0%ae", "/x/.;/y", "orders"} {
		if err := CheckPathLenient(p); !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("CheckPathLenient(%q) = %v, want ErrAmbiguousPath", p, err)
		}
	}
}
