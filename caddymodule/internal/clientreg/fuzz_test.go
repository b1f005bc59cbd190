package clientreg

import (
	"strings"
	"testing"
)

// FuzzParseDocument feeds arbitrary bytes to the metadata parser as a
// document and as a registration: it must never panic, and whatever it
// accepts must hold what the checks promise.
func FuzzParseDocument(f *testing.F) {
	const id = "https://app.example/client.json"
	f.Add([]byte(doc(f, id, nil)))
	f.Add([]byte(doc(f, id, map[string]any{"client_name": "<b>x</b>", "scope": "a b", "grant_types": []string{"authorization_code", "refresh_token"}})))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["com.example.app:/cb"],"client_id":"x"}`))
	f.Add([]byte(`{"client_id":"` + id + `","redirect_uris":["http://[::1]:1/"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]}}`))
	f.Add([]byte(`{"redirect_uris":["https://a.example/cb#"]}`))
	f.Add([]byte(`{"a":"\ud800"}`))
	f.Add([]byte("\ufeff{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := parseDocument(id, data); err == nil {
			if c.ID != id || len(c.RedirectURIs) == 0 || c.Kind != KindMetadataDocument {
				t.Fatalf("accepted incomplete client %+v", c)
			}
			if c.TokenEndpointAuthMethod != authNone && c.TokenEndpointAuthMethod != authPrivateKeyJWT {
				t.Fatalf("accepted method %q in a document", c.TokenEndpointAuthMethod)
			}
			checkAccepted(t, c.RedirectURIs, c.GrantTypes, c.ResponseTypes)
		}
		if m, err := parseMetadata(data); err == nil {
			if err := m.validate(); err == nil {
				checkAccepted(t, m.redirectURIs, m.grantTypes, m.responseTypes)
				if strings.ContainsAny(m.clientName, "\x00\r\n\u202e") {
					t.Fatalf("accepted control characters in %q", m.clientName)
				}
			}
		}
	})
}

// checkAccepted re-checks accepted metadata.
func checkAccepted(t *testing.T, redirects, grants, responses []string) {
	t.Helper()
	for _, u := range redirects {
		if err := validRedirectURI(u); err != nil || strings.Contains(u, "#") {
			t.Fatalf("accepted redirect URI %q: %v", u, err)
		}
	}
	if len(grants) == 0 || len(responses) == 0 {
		t.Fatal("defaults not applied")
	}
	for _, r := range responses {
		if r != responseCode {
			t.Fatalf("accepted response type %q", r)
		}
	}
}
