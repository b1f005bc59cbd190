package oidcflow

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
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
