package pages

import (
	"errors"
	"strings"
	"testing"
)

// TestConsentEscapesClientText: the client's name, id and URI are
// untrusted; the page shows them as text, and the form posts only to
// this origin.
func TestConsentEscapesClientText(t *testing.T) {
	t.Parallel()
	p, err := Default().Consent(ConsentData{
		ClientName: `<script>alert(1)</script><b>Evil</b>`, ClientID: `https://x.example/"><img src=x>`,
		ClientURI: `javascript:alert(1)`, Resource: "https://mcp.example.com/mcp", Scopes: []string{"tools:read"},
		Action: "/.portcullis/oauth/consent", Request: `a=1&b="><x`, CSRF: "tok",
	})
	if err != nil {
		t.Fatal(err)
	}
	body := string(p.Body)
	for _, bad := range []string{"<script>", "<b>Evil", `"><img`, `href="javascript:`, `value="a=1&b="><x"`} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q unescaped:\n%s", bad, body)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "&lt;b&gt;Evil", `name="csrf" value="tok"`, `action="/.portcullis/oauth/consent"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("policy %q", csp)
	}
	if _, err := Default().Consent(ConsentData{Action: "https://evil.example/consent"}); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("an absolute action: %v, want ErrUnsafeURL", err)
	}
}
