package oidcflow

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsBrowserNavigation(t *testing.T) {
	t.Parallel()
	const chromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	tests := []struct {
		name   string
		method string
		header map[string]string
		want   bool
	}{
		{name: "chrome navigation", method: "GET", header: map[string]string{"Accept": chromeAccept, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, want: true},
		{name: "old browser without fetch metadata", method: "GET", header: map[string]string{"Accept": chromeAccept}, want: true},
		{name: "HEAD", method: "HEAD", header: map[string]string{"Accept": "text/html"}, want: true},
		{name: "xhtml only", method: "GET", header: map[string]string{"Accept": "application/xhtml+xml"}, want: true},
		{name: "POST form", method: "POST", header: map[string]string{"Accept": chromeAccept, "Sec-Fetch-Mode": "navigate"}},
		{name: "fetch with html accept", method: "GET", header: map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "cors"}},
		{name: "no-cors subresource", method: "GET", header: map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "no-cors"}},
		{name: "XHR", method: "GET", header: map[string]string{"Accept": chromeAccept, "X-Requested-With": "XMLHttpRequest"}},
		{name: "XHR lower case", method: "GET", header: map[string]string{"Accept": "text/html", "X-Requested-With": "xmlhttprequest"}},
		{name: "curl", method: "GET", header: map[string]string{"Accept": "*/*"}},
		{name: "API client", method: "GET", header: map[string]string{"Accept": "application/json"}},
		{name: "no accept", method: "GET"},
		{name: "html refused with q=0", method: "GET", header: map[string]string{"Accept": "text/html;q=0, application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "https://app.example/page", nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := IsBrowserNavigation(r); got != tt.want {
				t.Fatalf("IsBrowserNavigation = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tls    bool
		header map[string]string
		want   bool
	}{
		{name: "fetch metadata same-origin", header: map[string]string{"Sec-Fetch-Site": "same-origin"}, want: true},
		{name: "fetch metadata same-site", header: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://app.example"}},
		{name: "fetch metadata cross-site", header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "fetch metadata none (typed URL)", header: map[string]string{"Sec-Fetch-Site": "none"}},
		{name: "origin matches", tls: true, header: map[string]string{"Origin": "https://app.example"}, want: true},
		{name: "origin scheme differs", header: map[string]string{"Origin": "https://app.example"}},
		{name: "origin foreign", tls: true, header: map[string]string{"Origin": "https://evil.example"}},
		{name: "origin null", tls: true, header: map[string]string{"Origin": "null"}},
		{name: "nothing", tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "https://app.example/.portcullis/logout", nil)
			r.Host = "app.example"
			if !tt.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := SameOrigin(r); got != tt.want {
				t.Fatalf("SameOrigin = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLandingPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		returnTo string
		wantHref string
	}{
		{name: "path", returnTo: "/app?a=1&b=2", wantHref: `href="/app?a=1&amp;b=2"`},
		{name: "unsafe becomes root", returnTo: "//evil.com", wantHref: `href="/"`},
		{name: "quote injection", returnTo: `/x"><script>alert(1)</script>`, wantHref: `href="/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := LandingPage(tt.returnTo)
			body := string(p.Body)
			if p.Status != http.StatusOK || !strings.Contains(body, tt.wantHref) {
				t.Fatalf("page = %d %s", p.Status, body)
			}
			if strings.Contains(body, "evil") || strings.Contains(body, "alert") {
				t.Fatal("unsafe return URL reached the page")
			}
			if !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "<script>"+landingScript+"</script>") {
				t.Fatal("page does not continue the navigation")
			}
			csp := p.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, landingScriptHash) {
				t.Fatalf("CSP = %q", csp)
			}
			if p.Header.Get("Cache-Control") != "no-store" || p.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("headers = %v", p.Header)
			}
		})
	}
}

func TestLogoutPage(t *testing.T) {
	t.Parallel()
	p := LogoutPage("/.portcullis/logout")
	if !strings.Contains(string(p.Body), `<form method="post" action="/.portcullis/logout">`) {
		t.Fatalf("body = %s", p.Body)
	}
	if strings.Contains(p.Header.Get("Content-Security-Policy"), "script-src") {
		t.Fatal("the logout page needs no script")
	}
}

func TestProviderRedirectPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string
		wantErr bool
	}{
		{name: "logout URL", target: "https://idp.example/logout?id_token_hint=a.b.c&client_id=gw"},
		{name: "relative", target: "/logout", wantErr: true},
		{name: "javascript", target: "javascript:alert(1)", wantErr: true},
		{name: "scheme-relative", target: "//idp.example/logout", wantErr: true},
		{name: "CRLF", target: "https://idp.example/\r\nX: y", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := ProviderRedirectPage(tt.target)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ProviderRedirectPage error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !strings.Contains(string(p.Body), `href="https://idp.example/logout?id_token_hint=a.b.c&amp;client_id=gw"`) {
				t.Fatalf("body = %s", p.Body)
			}
		})
	}
}
