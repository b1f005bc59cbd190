package principal

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	base := func() Principal {
		return Principal{
			Subject: "reader-bot", Method: MethodJWT, Name: "Reader Bot", Email: "bot@example.com",
			Scopes: []string{"orders:read", "orders:write"}, Groups: []string{"staff", "CN=Admins,OU=Groups", "50% off"},
			Issuer: "https://idp.example.com", Audience: []string{"api://orders"}, ClientID: "cli",
			ACR: "urn:mfa", AMR: []string{"pwd", "otp"},
		}
	}
	tests := []struct {
		name   string
		edit   func(p *Principal)
		wantOK bool
	}{
		{name: "valid", edit: func(*Principal) {}, wantOK: true},
		{name: "valid api key", edit: func(p *Principal) { *p = Principal{Subject: "ci", Method: MethodAPIKey, KeyID: "k1", Name: "CI bot"} }, wantOK: true},
		{name: "unicode name and group", edit: func(p *Principal) { p.Name = "Zoë Ångström"; p.Groups = []string{"Ärzte", "開発"} }, wantOK: true},
		{name: "name with surrounding spaces", edit: func(p *Principal) { p.Name = " Alice " }, wantOK: true},
		{name: "group with comma, percent and spaces", edit: func(p *Principal) { p.Groups = []string{" a,b%2C "} }, wantOK: true},
		{name: "scope with comma", edit: func(p *Principal) { p.Scopes = []string{"orders:read,orders:write"} }, wantOK: true},

		{name: "empty subject", edit: func(p *Principal) { p.Subject = "" }},
		{name: "unknown method", edit: func(p *Principal) { p.Method = "basic" }},
		{name: "subject NUL", edit: func(p *Principal) { p.Subject = "reader-bot\x00" }},
		{name: "subject LF", edit: func(p *Principal) { p.Subject = "reader-bot\n" }},
		{name: "subject CR LF injection", edit: func(p *Principal) { p.Subject = "x\r\nX-Auth-Scopes: admin" }},
		{name: "subject tab", edit: func(p *Principal) { p.Subject = "reader\tbot" }},
		{name: "subject DEL", edit: func(p *Principal) { p.Subject = "reader-bot\x7f" }},
		{name: "subject ESC", edit: func(p *Principal) { p.Subject = "\x1b[31mreader-bot" }},
		{name: "subject C1 NEL", edit: func(p *Principal) { p.Subject = "reader-bot\u0085" }},
		{name: "subject C1 CSI", edit: func(p *Principal) { p.Subject = "\u009breader-bot" }},
		{name: "subject line separator", edit: func(p *Principal) { p.Subject = "reader\u2028bot" }},
		{name: "subject bidi override", edit: func(p *Principal) { p.Subject = "\u202etob-redaer" }},
		{name: "subject bidi isolate", edit: func(p *Principal) { p.Subject = "reader\u2066bot" }},
		{name: "subject invalid UTF-8", edit: func(p *Principal) { p.Subject = "reader\xffbot" }},
		{name: "subject trailing space", edit: func(p *Principal) { p.Subject = "admin " }},
		{name: "subject leading space", edit: func(p *Principal) { p.Subject = " admin" }},
		{name: "email trailing space", edit: func(p *Principal) { p.Email = "root@example.com " }},
		{name: "email NUL", edit: func(p *Principal) { p.Email = "root@example.com\x00.evil" }},
		{name: "name CR LF", edit: func(p *Principal) { p.Name = "Mallory\r\nX-Auth-Subject: admin" }},
		{name: "name tab", edit: func(p *Principal) { p.Name = "Mal\tlory" }},
		{name: "name C1", edit: func(p *Principal) { p.Name = "Mallory\u0080" }},
		{name: "key id LF", edit: func(p *Principal) { p.KeyID = "k1\n" }},
		{name: "issuer NUL", edit: func(p *Principal) { p.Issuer = "https://idp\x00" }},
		{name: "acr LF", edit: func(p *Principal) { p.ACR = "urn:mfa\n" }},
		{name: "amr NUL", edit: func(p *Principal) { p.AMR = []string{"pwd\x00"} }},
		{name: "audience LF", edit: func(p *Principal) { p.Audience = []string{"api\n"} }},
		{name: "client id space", edit: func(p *Principal) { p.ClientID = "cli " }},
		{name: "group LF", edit: func(p *Principal) { p.Groups = []string{"staff\n"} }},
		{name: "group NUL", edit: func(p *Principal) { p.Groups = []string{"admins\x00"} }},
		{name: "empty group", edit: func(p *Principal) { p.Groups = []string{"staff", ""} }},
		{name: "scope with space", edit: func(p *Principal) { p.Scopes = []string{"orders:read", "orders:write admin"} }},
		{name: "scope with tab", edit: func(p *Principal) { p.Scopes = []string{"orders:read\tadmin"} }},
		{name: "scope with NUL", edit: func(p *Principal) { p.Scopes = []string{"orders:read\x00"} }},
		{name: "scope with quote", edit: func(p *Principal) { p.Scopes = []string{`a"b`} }},
		{name: "scope with backslash", edit: func(p *Principal) { p.Scopes = []string{`a\b`} }},
		{name: "scope non-ASCII", edit: func(p *Principal) { p.Scopes = []string{"bestellungen:lesen:ä"} }},
		{name: "empty scope", edit: func(p *Principal) { p.Scopes = []string{""} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := base()
			tt.edit(&p)
			err := p.Validate()
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Validate = %v, want ErrMalformed", err)
			}
			for _, secret := range []string{"reader", "admin", "Mallory", "root@", "staff", "orders:write admin"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q contains the value", err)
				}
			}
		})
	}
}

func TestValidText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "Zoë", "a b", "CN=x,OU=y", "\u200e", "😀"} {
		if !ValidText(s) {
			t.Errorf("ValidText(%q) = false", s)
		}
	}
	for _, s := range []string{"\x00", "\t", "\x1f", "\x7f", "\u0080", "\u009f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069", "\xc3", "\xed\xa0\x80"} {
		if ValidText(s) {
			t.Errorf("ValidText(%q) = true", s)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	p := Principal{
		Subject: "248289761001", Method: MethodJWT, Name: "Jane Doe", Email: "jane.doe@example.com",
		Scopes: []string{"orders:read", "orders:write", "profile"}, Groups: []string{"staff", "dev"},
		Issuer: "https://idp.example.com", Audience: []string{"https://api.example.com"}, ClientID: "client-1",
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
