package forwardauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// hdr builds a header from name/value pairs, keeping repetitions.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// traefik is a complete description as Traefik and Caddy send it.
func traefik(extra ...string) http.Header {
	return hdr(append([]string{HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "App.Example.com:8443", HeaderURI, "/orders/1?x=%2F"}, extra...)...)
}

func TestFromHeaders(t *testing.T) {
	t.Parallel()
	want := Request{Method: "GET", Scheme: "https", Host: "app.example.com:8443", URI: "/orders/1?x=%2F"}
	tests := []struct {
		name    string
		h       http.Header
		want    Request
		wantErr string // substring; "" for success
	}{
		{name: "traefik", h: traefik(), want: want},
		{name: "nginx", h: hdr(HeaderOriginalMethod, "GET", HeaderOriginalURI, "/orders/1?x=%2F", HeaderProto, "HTTPS", HeaderHost, "app.example.com:8443"), want: want},
		{name: "both conventions agreeing", h: traefik(HeaderOriginalURI, "/orders/1?x=%2F", HeaderOriginalMethod, "GET"), want: want},
		{name: "uri conventions disagree", h: traefik(HeaderOriginalURI, "/public/x"), wantErr: "X-Forwarded-Uri and X-Original-Uri disagree"},
		{name: "method conventions disagree", h: traefik(HeaderOriginalMethod, "POST"), wantErr: "disagree"},
		{name: "uri sent twice", h: traefik(HeaderURI, "/public/x"), wantErr: "X-Forwarded-Uri is sent more than once"},
		{name: "host list", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com, b.example.com", HeaderURI, "/"), wantErr: "host"},
		{name: "proto list", h: hdr(HeaderMethod, "GET", HeaderProto, "https,http", HeaderHost, "a.example.com", HeaderURI, "/"), wantErr: "http or https"},
		{name: "no method", h: hdr(HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "/"), wantErr: "X-Forwarded-Method is missing"},
		{name: "no uri", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com"), wantErr: "X-Forwarded-Uri is missing"},
		{name: "no host", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderURI, "/"), wantErr: "X-Forwarded-Host is missing"},
		{name: "no proto", h: hdr(HeaderMethod, "GET", HeaderHost, "a.example.com", HeaderURI, "/"), wantErr: "X-Forwarded-Proto is missing"},
		{name: "empty uri", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, ""), wantErr: "empty"},
		{name: "method not a token", h: hdr(HeaderMethod, "GE T", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "/"), wantErr: "method"},
		{name: "absolute form", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "http://evil.test/"), wantErr: "starting with '/'"},
		{name: "asterisk form", h: hdr(HeaderMethod, "OPTIONS", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "*"), wantErr: "starting with '/'"},
		{name: "space in target", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "/a b"), wantErr: "control, space"},
		{name: "tab in target", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "/a\tb"), wantErr: "control"},
		{name: "userinfo host", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "admin@a.example.com", HeaderURI, "/"), wantErr: "host"},
		{name: "host with path", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com/x", HeaderURI, "/"), wantErr: "host"},
		{name: "bad port", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com:x", HeaderURI, "/"), wantErr: "host"},
		{name: "ipv6 host", h: hdr(HeaderMethod, "GET", HeaderProto, "http", HeaderHost, "[::1]:8080", HeaderURI, "/"),
			want: Request{Method: "GET", Scheme: "http", Host: "[::1]:8080", URI: "/"}},
		{name: "long target", h: hdr(HeaderMethod, "GET", HeaderProto, "https", HeaderHost, "a.example.com", HeaderURI, "/"+strings.Repeat("a", MaxURILength)), wantErr: "longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := FromHeaders(tt.h)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDescription) {
					t.Fatalf("FromHeaders = %+v, %v; want an ErrDescription containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromHeaders = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestFromPath(t *testing.T) {
	t.Parallel()
	proto := hdr(HeaderProto, "http")
	tests := []struct {
		name, method, host, target string
		h                          http.Header
		want                       Request
		wantErr                    string
	}{
		{name: "envoy", method: "DELETE", host: "App.example.com", target: "/authz/orders/1?a=b", h: proto,
			want: Request{Method: "DELETE", Scheme: "http", Host: "app.example.com", URI: "/orders/1?a=b"}},
		{name: "prefix only", method: "GET", host: "a.example.com", target: "/authz", h: proto, wantErr: "does not start with /authz/"},
		{name: "prefix lookalike", method: "GET", host: "a.example.com", target: "/authzx/orders", h: proto, wantErr: "does not start"},
		{name: "other path", method: "GET", host: "a.example.com", target: "/orders", h: proto, wantErr: "does not start"},
		{name: "no proto", method: "GET", host: "a.example.com", target: "/authz/x", h: hdr(), wantErr: "X-Forwarded-Proto is missing"},
		{name: "agreeing uri header", method: "GET", host: "a.example.com", target: "/authz/x", h: hdr(HeaderProto, "http", HeaderURI, "/x"),
			want: Request{Method: "GET", Scheme: "http", Host: "a.example.com", URI: "/x"}},
		{name: "contradicting uri header", method: "GET", host: "a.example.com", target: "/authz/orders", h: hdr(HeaderProto, "http", HeaderURI, "/public"), wantErr: "contradicts"},
		{name: "contradicting method header", method: "POST", host: "a.example.com", target: "/authz/orders", h: hdr(HeaderProto, "http", HeaderOriginalMethod, "GET"), wantErr: "contradicts"},
		{name: "contradicting host header", method: "GET", host: "a.example.com", target: "/authz/orders", h: hdr(HeaderProto, "http", HeaderHost, "b.example.com"), wantErr: "contradicts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := FromPath(tt.method, tt.host, tt.target, "/authz", tt.h)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromPath = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromPath = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		h                    http.Header
		wantScheme, wantHost string
		wantErr              bool
	}{
		{name: "none", h: hdr()},
		{name: "both", h: hdr(HeaderProto, "HTTPS", HeaderHost, "App.example.com"), wantScheme: "https", wantHost: "app.example.com"},
		{name: "host only", h: hdr(HeaderHost, "app.example.com:8080"), wantHost: "app.example.com:8080"},
		{name: "host list", h: hdr(HeaderHost, "a.example.com,b.example.com"), wantErr: true},
		{name: "host twice", h: hdr(HeaderHost, "a.example.com", HeaderHost, "b.example.com"), wantErr: true},
		{name: "bad proto", h: hdr(HeaderProto, "ftp"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, h, err := Origin(tt.h)
			if (err != nil) != tt.wantErr || s != tt.wantScheme || h != tt.wantHost {
				t.Fatalf("Origin = %q, %q, %v; want %q, %q, error %v", s, h, err, tt.wantScheme, tt.wantHost, tt.wantErr)
			}
		})
	}
}

func TestRebuild(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "kept")
	check, err := http.NewRequestWithContext(ctx, "GET", "http://gateway.internal:9000/auth", strings.NewReader("check body"))
	if err != nil {
		t.Fatal(err)
	}
	check.Header = traefik("Authorization", "Bearer x", "Cookie", "a=b", "Content-Length", "10", "X-Original-Uri", "/orders/1?x=%2F")
	o, err := FromHeaders(check.Header)
	if err != nil {
		t.Fatal(err)
	}
	o.URI = "/public/%2e%2e/orders?x=1"
	r, err := o.Rebuild(check)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "GET" || r.Host != "app.example.com:8443" || r.TLS == nil || r.RequestURI != o.URI {
		t.Fatalf("rebuilt %s %s host %s tls %v", r.Method, r.RequestURI, r.Host, r.TLS != nil)
	}
	if r.URL.EscapedPath() != "/public/%2e%2e/orders" || r.URL.RawQuery != "x=1" {
		t.Fatalf("escaped path %q query %q: the escapes must be kept for the strict check", r.URL.EscapedPath(), r.URL.RawQuery)
	}
	if r.Context().Value(key{}) != "kept" {
		t.Fatal("the context is not the check request's")
	}
	for _, n := range append(append([]string(nil), MetaHeaders...), "Content-Length") {
		if _, ok := r.Header[n]; ok {
			t.Errorf("the rebuilt request carries %s", n)
		}
	}
	if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("Cookie") != "a=b" {
		t.Fatalf("the client's credentials are not in the rebuilt request: %v", r.Header)
	}
	if r.ContentLength != 0 || r.Body != http.NoBody {
		t.Fatal("the rebuilt request has a body")
	}
	if check.Header.Get(HeaderURI) == "" || check.URL.Path != "/auth" {
		t.Fatal("the check request was changed")
	}
	o.Scheme = "http"
	if r, _ := o.Rebuild(check); r.TLS != nil {
		t.Fatal("an http request has TLS state")
	}
	if got := o.URL(); got != "http://app.example.com:8443/public/%2e%2e/orders?x=1" {
		t.Fatalf("URL = %s", got)
	}
}
