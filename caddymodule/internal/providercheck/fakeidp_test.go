package providercheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Credentials of the fake provider's registered client.
const (
	fakeClientID = "gateway"
	fakeSecret   = "fake-client-secret-0123456789-do-not-print"
)

// fakeIDP is an OpenID provider good enough for the checks: discovery,
// a key set, a token endpoint that answers made-up codes and refresh
// tokens as RFC 6749 §5.2 says, and an authorization endpoint that
// validates the client and redirect URI.
type fakeIDP struct {
	srv *httptest.Server
	// Tweak changes the discovery document before it is served.
	tweak func(doc map[string]any)
	// DiscoveryStatus, when set, is answered instead of the document.
	discoveryStatus int
	// Keys is the served key set. Default: one RSA-2048 key for RS256.
	keys []jose.JSONWebKey
	// CodeFirst looks codes up before authenticating the client (as
	// zitadel's op does), so made-up codes get invalid_grant whatever
	// the client.
	codeFirst bool
	// PostOnly makes the provider accept client_secret_post only.
	postOnly bool
	// EchoSecret makes the token endpoint echo the secret it got in
	// its error description (providers should not; some do).
	echoSecret bool
	// Authorize, when set, answers authorization requests instead.
	authorizeFn http.HandlerFunc
	// Redirects are the registered redirect URIs of fakeClientID.
	redirects []string

	mu       sync.Mutex
	authSeen []string // how the client authenticated at the token endpoint
}

// startFakeIDP starts a provider for the test.
func startFakeIDP(t *testing.T, configure func(*fakeIDP)) *fakeIDP {
	t.Helper()
	f := &fakeIDP{redirects: []string{"https://app.example.com/.portcullis/callback"}}
	if configure != nil {
		configure(f)
	}
	if f.keys == nil {
		f.keys = []jose.JSONWebKey{rsaJWK(t, "k1", "RS256")}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: f.keys})
	})
	mux.HandleFunc("/token", f.token)
	mux.HandleFunc("/authorize", f.authorize)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// issuer is the provider's issuer (no trailing slash).
func (f *fakeIDP) issuer() string { return f.srv.URL }

func (f *fakeIDP) discovery(w http.ResponseWriter, _ *http.Request) {
	if f.discoveryStatus != 0 {
		http.Error(w, "not here", f.discoveryStatus)
		return
	}
	iss := f.issuer()
	doc := map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/keys",
		"end_session_endpoint":                           iss + "/logout",
		"revocation_endpoint":                            iss + "/revoke",
		"scopes_supported":                               []string{"openid", "email", "profile", "offline_access"},
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"claims_parameter_supported":                     true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"authorization_response_iss_parameter_supported": true,
	}
	if f.postOnly {
		doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post"}
	}
	if f.tweak != nil {
		f.tweak(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (f *fakeIDP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	how := "basic"
	if !basic {
		id, secret, how = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "post"
	}
	f.mu.Lock()
	f.authSeen = append(f.authSeen, how)
	f.mu.Unlock()
	if basic { // RFC 6749 §2.3.1
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if f.echoSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "bad secret " + secret})
		return
	}
	authenticated := id == fakeClientID && secret == fakeSecret && (!f.postOnly || how == "post")
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		if f.codeFirst || authenticated {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "invalid code"})
			return
		}
	case "refresh_token":
		if authenticated {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
}

func (f *fakeIDP) authorize(w http.ResponseWriter, r *http.Request) {
	if f.authorizeFn != nil {
		f.authorizeFn(w, r)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != fakeClientID:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<html><head><title>Error</title><style>h1{}</style></head><body><h1>Client not found.</h1></body></html>"))
	case !slices.Contains(f.redirects, q.Get("redirect_uri")):
		http.Error(w, "Invalid parameter: redirect_uri", http.StatusBadRequest)
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Redirect(w, r, q.Get("redirect_uri")+"?error=invalid_request&state="+q.Get("state"), http.StatusFound)
	default:
		http.Redirect(w, r, "/login?req=42", http.StatusFound)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// rsaJWK returns a public RSA-2048 JWK.
func rsaJWK(t *testing.T, kid, alg string) jose.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// ecJWK returns a public P-256 JWK.
func ecJWK(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}
}
