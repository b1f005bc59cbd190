package clientreg

import (
	"errors"
	"testing"
)

func TestValidRedirectURI(t *testing.T) {
	t.Parallel()
	good := []string{
		"https://app.example/cb",
		"https://app.example:8443/cb?x=1",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:3000/callback",
		"http://[::1]:3000/callback",
		"http://localhost:6274/oauth/callback",
		"com.example.app:/oauth2redirect",
		"com.example.app://callback",
	}
	bad := []string{
		"",
		"/relative",
		"app.example/cb",
		"https://app.example/cb#frag",
		"https://app.example/cb#",
		"https:///cb",
		"https://user@app.example/cb",
		"http://app.example/cb",
		"http://127.0.0.2/cb",
		"http://localhost.evil.example/cb",
		"http://127.0.0.1:0/cb",
		"http://127.0.0.1:99999/cb",
		"javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"file:///etc/passwd",
		"myapp:/cb",
		"https://app.example/c b",
		"https://app.example\\@evil.example/",
		"https://app.example/\x00",
		"https://app.example/ünicode",
	}
	for _, s := range good {
		if err := validRedirectURI(s); err != nil {
			t.Errorf("validRedirectURI(%q) = %v, want ok", s, err)
		}
	}
	for _, s := range bad {
		var re *redirectError
		if err := validRedirectURI(s); !errors.As(err, &re) {
			t.Errorf("validRedirectURI(%q) = %v, want refused", s, err)
		}
	}
}

func TestCheckRedirectURI(t *testing.T) {
	t.Parallel()
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := Client{RedirectURIs: []string{
		"https://app.example/cb",
		"http://127.0.0.1/native",
		"http://[::1]:8080/v6?a=b",
		"http://localhost:3000/cb",
		"com.example.app:/oauth",
	}}
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb/", false},
		{"https://APP.example/cb", false},
		{"https://app.example/cb?x", false},
		{"https://app.example/cb#x", false},
		{"https://app.example:443/cb", false},
		{"http://app.example/cb", false},
		{"", false},
		// RFC 8252 §7.3: any port on a loopback IP literal.
		{"http://127.0.0.1/native", true},
		{"http://127.0.0.1:51234/native", true},
		{"http://127.0.0.1:51234/native/", false},
		{"http://127.0.0.1:51234/other", false},
		{"http://127.0.0.1:0/native", false},
		{"http://127.0.0.1:/native", false},
		{"http://127.0.0.1:51234@evil.example/native", false},
		{"http://127.0.0.1.evil.example/native", false},
		{"https://127.0.0.1:51234/native", false},
		{"http://[::1]:8080/v6?a=b", true},
		{"http://[::1]:1/v6?a=b", true},
		{"http://[::1]/v6?a=b", true},
		{"http://[::1]:1/v6?a=c", false},
		{"http://127.0.0.1:8080/v6?a=b", false},
		{"http://[::1]:1/v6?a=b#f", false},
		// localhost is no IP literal: exact only.
		{"http://localhost:3000/cb", true},
		{"http://localhost:3001/cb", false},
		{"com.example.app:/oauth", true},
		{"com.example.app:/oauth2", false},
	}
	for _, tc := range tests {
		err := r.CheckRedirectURI(c, tc.uri)
		if tc.ok && err != nil {
			t.Errorf("CheckRedirectURI(%q) = %v, want ok", tc.uri, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("CheckRedirectURI(%q) passed, want mismatch", tc.uri)
				continue
			}
			wantReason(t, err, CodeInvalidRedirectURI, ReasonRedirectURIMismatch)
		}
	}
}
