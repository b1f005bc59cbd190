package oidcflow

import "testing"

// TestReturnPolicy is the open-redirect corpus of absolute return URLs:
// only plain http(s) URLs on the domain's hosts (label boundary) or the
// listed hosts pass, never look-alikes, userinfo, IDN in Unicode,
// encoded or backslashed authorities, or unsafe paths.
func TestReturnPolicy(t *testing.T) {
	t.Parallel()
	p := ReturnPolicy{Domain: "example.com", Hosts: []string{"partner.example.net"}}
	allowed := []string{
		"/",
		"/orders?id=1#top",
		"https://example.com/",
		"https://app.example.com",
		"https://app.example.com/orders?page=2#x",
		"https://a.b.example.com:8443/x",
		"https://partner.example.net/cb",
		"https://xn--bcher-kva.example.com/",
	}
	refused := []string{
		"",
		"//evil.example/",
		"/\\evil.example",
		"https://evil.example/",
		"https://example.com.evil.net/",
		"https://evilexample.com/",
		"https://app.example.com.evil.net/",
		"https://example.co/",
		"https://EXAMPLE.com/",          // written plainly only
		"https://app.example.com./",     // trailing dot
		"https://user@app.example.com/", // userinfo
		"https://evil.example@app.example.com/",
		"https://app.example.com@evil.example/",
		"https://app%2eexample.com/",
		"https://evil.example%2f.example.com/",
		"https://app.example.com\\@evil.example/",
		"https://bücher.example.com/", // IDN in Unicode
		"https://app.example.com:0/",
		"https://app.example.com:99999/",
		"https://app.example.com:/",
		"https://app.example.com:08080/",
		"http://app.example.com/", // http without AllowHTTP
		"javascript:alert(1)",
		"ftp://app.example.com/",
		"https:app.example.com/",
		"https:/app.example.com/",
		"https://app.example.com/../admin",
		"https://app.example.com//evil.example",
		"https://app.example.com/%2F%2Fevil.example",
		"https://app.example.com/\r\nSet-Cookie:x",
		"https://app.example.com/ x",
		"https://[::1]/",
		"https://127.0.0.1/",
		"https://partner.example.net.evil/",
		"https://sub.partner.example.net/", // listed hosts are exact
		"https://-app.example.com/",
		"https://app-.example.com/",
		"https://app..example.com/",
		"https://app_x.example.com/",
	}
	for _, u := range allowed {
		if !p.Allows(u) {
			t.Errorf("Allows(%q) = false, want true", u)
		}
	}
	for _, u := range refused {
		if p.Allows(u) {
			t.Errorf("Allows(%q) = true, want false", u)
		}
		if got := p.Safe(u); got != "/" {
			t.Errorf("Safe(%q) = %q, want /", u, got)
		}
	}
	if (ReturnPolicy{}).Allows("https://app.example.com/") {
		t.Error("the zero policy allowed an absolute URL")
	}
	if !(ReturnPolicy{Domain: "example.com", AllowHTTP: true}).Allows("http://app.example.com/") {
		t.Error("AllowHTTP refused http")
	}
}
