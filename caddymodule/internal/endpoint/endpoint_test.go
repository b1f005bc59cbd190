package endpoint

import "testing"

func TestCheckSecureURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "https", in: "https://idp.example.com/realms/x", ok: true},
		{name: "http loopback v4", in: "http://127.0.0.2:5556", ok: true},
		{name: "http loopback v6", in: "http://[::1]:5556", ok: true},
		{name: "http localhost", in: "http://localhost:8080", ok: true},
		{name: "http remote", in: "http://idp.example.com", ok: false},
		{name: "http private ip", in: "http://10.0.0.5", ok: false},
		{name: "localhost lookalike", in: "http://localhost.evil.com", ok: false},
		{name: "relative", in: "/issuer", ok: false},
		{name: "other scheme", in: "ftp://idp.example.com", ok: false},
		{name: "credentials", in: "https://u:p@idp.example.com", ok: false},
		{name: "garbage", in: "http://%zz", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := CheckSecureURL("issuer", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckSecureURL(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
