package oidcflow

import "testing"

// TestValidReturnPathRefusesOpenRedirects feeds open-redirect payloads:
// none may survive SafeReturnPath.
func TestValidReturnPathRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	payloads := []string{
		"https://evil.com",
		"http://evil.com/path",
		"HTTPS://EVIL.COM",
		"//evil.com",
		"///evil.com",
		"////evil.com/x",
		"/\\evil.com",
		"\\\\evil.com",
		"\\/evil.com",
		"/\\/evil.com",
		"/%2F%2Fevil.com",
		"/%2f%2fevil.com",
		"/%2F/evil.com",
		"%2F%2Fevil.com",
		"/%5Cevil.com",
		"/%5cevil.com",
		"/%252F%252Fevil.com",
		"/%25252F%25252Fevil.com",
		"/%255Cevil.com",
		"javascript:alert(1)",
		"JaVaScRiPt:alert(document.cookie)",
		"/javascript:alert(1)\n",
		"data:text/html,<script>alert(1)</script>",
		"https:evil.com",
		"http:/evil.com",
		"evil.com",
		"evil.com/path",
		" //evil.com",
		"\t//evil.com",
		"/\t/evil.com",
		"/%09/evil.com",
		"//%09/evil.com",
		"/\r\nLocation: https://evil.com",
		"/%0d%0aSet-Cookie:%20x=y",
		"/%0D%0ALocation:%20//evil.com",
		"/\x00//evil.com",
		"/%00/evil.com",
		"/..//evil.com",
		"/./evil.com/..",
		"/%2e%2e/%2e%2e//evil.com",
		"/a/../../evil",
		"/％２Ｆevil.com",
		"/\u3002evil.com",
		"/ evil.com",
		"/%",
		"/%zz",
		"",
		"/" + string(make([]byte, MaxReturnPathLength)),
	}
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			if ValidReturnPath(p) {
				t.Fatalf("ValidReturnPath(%q) = true", p)
			}
			if got := SafeReturnPath(p); got != "/" {
				t.Fatalf("SafeReturnPath(%q) = %q, want /", p, got)
			}
		})
	}
}

func TestValidReturnPathAcceptsPaths(t *testing.T) {
	t.Parallel()
	paths := []string{
		"/",
		"/app",
		"/app/",
		"/app/orders?page=2&sort=desc",
		"/app#section",
		"/search?q=hello+world",
		"/a/b/c?next=%2Fhome",
		"/caf%C3%A9",
		"/x?redirect=https://allowed-as-data.example",
		"/@user",
		"/a..b/c.d",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			if !ValidReturnPath(p) {
				t.Fatalf("ValidReturnPath(%q) = false", p)
			}
			if got := SafeReturnPath(p); got != p {
				t.Fatalf("SafeReturnPath(%q) = %q", p, got)
			}
		})
	}
}
