package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/apikey"
)

// Identity values must reach the upstream as exactly themselves: a value
// that would collide with another principal's or smuggle structure into
// a header refuses the credential (401 invalid_token); a group, which
// may legitimately hold the header's delimiter, is percent-encoded.

// identityHandler is a route trusting one test issuer, with the request
// recorded as the upstream sees it.
func identityHandler(t *testing.T) (*Handler, *testIssuer) {
	t.Helper()
	ti := newTestIssuer(t)
	h, _ := newJWTHandler(t, []JWTIssuerConfig{ti.config("")}, Handler{
		Require: []RequireConfig{{Scopes: []string{"orders:read"}}, {Scopes: []string{"admin"}, Methods: []string{"DELETE"}}},
	})
	return h, ti
}

func TestIdentityValuesRefused(t *testing.T) {
	t.Parallel()
	h, ti := identityHandler(t)
	scp := func(s ...string) map[string]any { return map[string]any{"scope": nil, "scp": s} }
	tests := []struct {
		name string
		over map[string]any
	}{
		{name: "sub NUL (another principal's subject once cleaned)", over: map[string]any{"sub": "reader-bot\x00"}},
		{name: "sub LF", over: map[string]any{"sub": "reader-bot\n"}},
		{name: "sub CR LF header injection", over: map[string]any{"sub": "x\r\nX-Auth-Scopes: admin"}},
		{name: "sub tab", over: map[string]any{"sub": "reader\tbot"}},
		{name: "sub DEL", over: map[string]any{"sub": "reader-bot\x7f"}},
		{name: "sub C1", over: map[string]any{"sub": "\u009breader-bot"}},
		{name: "sub line separator", over: map[string]any{"sub": "reader-bot\u2028"}},
		{name: "sub bidi override", over: map[string]any{"sub": "\u202etob-redaer"}},
		{name: "sub trailing space", over: map[string]any{"sub": "admin "}},
		{name: "sub leading space", over: map[string]any{"sub": " admin"}},
		{name: "name CR LF", over: map[string]any{"name": "Mallory\r\nX-Auth-Subject: admin"}},
		{name: "name NUL", over: map[string]any{"name": "Mallory\x00"}},
		{name: "email NUL", over: map[string]any{"email": "root@example.com\x00.evil"}},
		{name: "email trailing space", over: map[string]any{"email": "root@example.com "}},
		{name: "group LF", over: map[string]any{"groups": []string{"staff\n"}}},
		{name: "group NUL", over: map[string]any{"groups": []string{"admins\x00"}}},
		{name: "scp element with a space", over: scp("orders:read", "orders:write admin")},
		{name: "scp only element with a space", over: scp("orders:read admin")},
		{name: "scp element with NUL", over: scp("orders:read\x00")},
		{name: "scope with a tab", over: map[string]any{"scope": "orders:read\tadmin"}},
		{name: "scope with a newline", over: map[string]any{"scope": "orders:read\nadmin"}},
		{name: "acr LF", over: map[string]any{"acr": "urn:mfa\n"}},
		{name: "amr NUL", over: map[string]any{"amr": []string{"pwd\x00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, up := serve(t, h, "GET", bearer(ti.mint(t, tt.over)))
			if w.Code != http.StatusUnauthorized || up.called {
				t.Fatalf("status %d, upstream called %v; want 401 and no upstream", w.Code, up.called)
			}
			if wa := w.Header().Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q, want invalid_token", wa)
			}
			if !strings.Contains(w.Body.String(), "cannot be forwarded") {
				t.Fatalf("refused for another reason than its identity values: %s", w.Body)
			}
		})
	}
}

func TestIdentityValuesEncoded(t *testing.T) {
	t.Parallel()
	h, ti := identityHandler(t)
	tests := []struct {
		name        string
		over        map[string]any
		method      string
		wantGroups  string   // X-Auth-Groups and {http.auth.user.groups}
		wantDecoded []string // the groups, read back
		wantScopes  []string // X-Auth-Scopes split at spaces
	}{
		{name: "plain groups", over: map[string]any{"groups": []string{"staff", "admins"}}, wantGroups: "staff,admins", wantDecoded: []string{"staff", "admins"}},
		{name: "group with a comma", over: map[string]any{"groups": []string{"staff,admins"}}, wantGroups: "staff%2Cadmins", wantDecoded: []string{"staff,admins"}},
		{name: "LDAP DN", over: map[string]any{"groups": []string{"CN=Admins,OU=Groups,DC=example", "staff"}},
			wantGroups: "CN=Admins%2COU=Groups%2CDC=example,staff", wantDecoded: []string{"CN=Admins,OU=Groups,DC=example", "staff"}},
		{name: "percent is encoded too", over: map[string]any{"groups": []string{"staff%2Cadmins"}}, wantGroups: "staff%252Cadmins", wantDecoded: []string{"staff%2Cadmins"}},
		{name: "inner space kept, outer spaces encoded", over: map[string]any{"groups": []string{" Domain Users ", "admins"}},
			wantGroups: "%20Domain Users%20,admins", wantDecoded: []string{" Domain Users ", "admins"}},
		{name: "non-ASCII as UTF-8 bytes", over: map[string]any{"groups": []string{"Ärzte"}}, wantGroups: "%C3%84rzte", wantDecoded: []string{"Ärzte"}},
		{name: "a scope string is split at spaces", over: map[string]any{"scope": "orders:read admin"}, wantScopes: []string{"orders:read", "admin"}},
		{name: "admin granted by the scope string may delete", over: map[string]any{"scope": "orders:read admin"}, method: "DELETE", wantScopes: []string{"orders:read", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, "http://gw.test/orders/1", nil)
			r.Header.Set("Authorization", "Bearer "+ti.mint(t, tt.over))
			r.Header.Set("X-Auth-Groups", "admins") // a client copy, removed
			w := httptest.NewRecorder()
			repl := caddy.NewReplacer()
			r = caddyhttp.PrepareRequest(r, repl, w, nil)
			var got http.Header
			var placeholder string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				got, placeholder = r.Header.Clone(), repl.ReplaceKnown("{http.auth.user.groups}", "")
				return nil
			})
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusOK || got == nil {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tt.wantGroups != "" {
				if v := got.Values("X-Auth-Groups"); len(v) != 1 || v[0] != tt.wantGroups {
					t.Errorf("X-Auth-Groups = %q, want [%q]", v, tt.wantGroups)
				}
				if placeholder != tt.wantGroups {
					t.Errorf("{http.auth.user.groups} = %q, want %q", placeholder, tt.wantGroups)
				}
				var decoded []string
				for part := range strings.SplitSeq(got.Get("X-Auth-Groups"), ",") {
					d, err := url.PathUnescape(part)
					if err != nil {
						t.Fatalf("group %q does not percent-decode: %v", part, err)
					}
					decoded = append(decoded, d)
				}
				if !slices.Equal(decoded, tt.wantDecoded) {
					t.Errorf("decoded groups = %q, want %q", decoded, tt.wantDecoded)
				}
			}
			if tt.wantScopes != nil {
				if s := strings.Split(got.Get("X-Auth-Scopes"), " "); !slices.Equal(s, tt.wantScopes) {
					t.Errorf("X-Auth-Scopes = %q, want %q", got.Get("X-Auth-Scopes"), tt.wantScopes)
				}
			}
		})
	}
}

// TestIdentityValuesOneScope: a scope with a comma is one scope (a
// scope-token may hold ','), so it grants neither of its halves.
func TestIdentityValuesOneScope(t *testing.T) {
	t.Parallel()
	h, ti := identityHandler(t)
	w, up := serve(t, h, "GET", bearer(ti.mint(t, map[string]any{"scope": "orders:read,orders:write"})))
	if w.Code != http.StatusForbidden || up.called {
		t.Fatalf("status %d, upstream called %v; want 403", w.Code, up.called)
	}
}

// TestIdentityValuesAPIKey: an API key whose record holds a name that
// cannot be forwarded (a key created before names were checked) is
// refused, not cleaned up; a static key with one is refused at load.
func TestIdentityValuesAPIKey(t *testing.T) {
	t.Parallel()
	k, err := apikey.Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	app := &App{APIKeys: &APIKeysConfig{Keys: []APIKeyConfig{{
		ID: k.ID, Hash: apikey.NewHasher(nil).Hash(k.String()), Subject: "ci-bot", Name: "CI\r\nX-Evil: 1",
	}}}}
	if err := app.compile(); err == nil || !strings.Contains(err.Error(), "api key "+k.ID) {
		t.Fatalf("compile with a CR LF key name: %v, want an error naming the key", err)
	}
	h, _ := newJWTHandler(t, nil, Handler{})
	rec := apikey.Record{ID: k.ID, Hash: apikey.NewHasher(nil).Hash(k.String()), Subject: "ci-bot\x00", Name: "CI bot"}
	set, err := apikey.NewSet("pcl", apikey.NewHasher(nil), []apikey.Record{rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.app.registry, err = apikey.NewRegistry(apikey.RegistryOptions{Static: set, Hasher: apikey.NewHasher(nil), Prefix: "pcl"}); err != nil {
		t.Fatal(err)
	}
	w, up := serve(t, h, "GET", map[string][]string{"Authorization": {"Bearer " + k.String()}})
	if w.Code != http.StatusUnauthorized || up.called || !strings.Contains(w.Body.String(), "cannot be forwarded") {
		t.Fatalf("API key with a NUL subject: status %d, upstream called %v, %s; want 401 for its identity", w.Code, up.called, w.Body)
	}
}
