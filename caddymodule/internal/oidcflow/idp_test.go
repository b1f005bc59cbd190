package oidcflow

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const (
	testClientID     = "gateway"
	testClientSecret = "s3cret-client-secret"
	testRedirectURL  = "https://app.example/.portcullis/callback"
	testKID          = "k1"
)

// fakeIdP is an OpenID provider for tests: discovery, JWKS, a token
// endpoint that checks PKCE, client authentication and redirect_uri, and
// refresh with rotation. The authorization step is done by the test with
// authorize, which records what the "browser" brought.
type fakeIdP struct {
	t     *testing.T
	srv   *httptest.Server
	key   *ecdsa.PrivateKey
	keys  *oidctest.Server
	clock func() time.Time

	down           atomic.Bool  // discovery answers 503
	discoveryHits  atomic.Int64 // discovery requests served
	keyHits        atomic.Int64 // JWKS requests served
	tokenDown      atomic.Bool  // token endpoint answers 503
	refreshCalls   atomic.Int64
	noEndSession   bool
	claimsHook     func(map[string]any)       // edits ID token claims before signing
	signIDToken    func(claims []byte) string // replaces the signature step
	accessTokenFor func(sub string) string

	mu      sync.Mutex
	codes   map[string]*grant
	refresh map[string]string // refresh token -> subject
}

// grant is an issued authorization code.
type grant struct {
	challenge, method, nonce, redirectURI, sub string
	used                                       bool
}

func newIdP(t *testing.T, clock func() time.Time) *fakeIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &fakeIdP{
		t: t, key: key, clock: clock,
		keys:    &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: testKID, Algorithm: oidc.ES256}}},
		codes:   map[string]*grant{},
		refresh: map[string]string{},
	}
	idp.srv = httptest.NewServer(idp)
	idp.keys.SetIssuer(idp.srv.URL)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *fakeIdP) issuer() string { return idp.srv.URL }

func (idp *fakeIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		idp.discoveryHits.Add(1)
		if idp.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		doc := map[string]any{
			"issuer":                                idp.issuer(),
			"authorization_endpoint":                idp.issuer() + "/authorize",
			"token_endpoint":                        idp.issuer() + "/token",
			"jwks_uri":                              idp.issuer() + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256", "HS256", "none"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		}
		if !idp.noEndSession {
			doc["end_session_endpoint"] = idp.issuer() + "/logout?tenant=t1"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	case "/keys":
		idp.keyHits.Add(1)
		idp.mu.Lock()
		keys := idp.keys // replaced by rotations
		idp.mu.Unlock()
		keys.ServeHTTP(w, r)
	case "/token":
		idp.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// tokenError answers an OAuth error.
func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "secret-detail-must-not-leak"})
}

func (idp *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	if idp.tokenDown.Load() {
		tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
		return
	}
	if id, secret, ok := r.BasicAuth(); !ok || id != testClientID || secret != testClientSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		idp.mu.Lock()
		g := idp.codes[r.PostForm.Get("code")]
		valid := g != nil && !g.used
		if g != nil {
			g.used = true
		}
		idp.mu.Unlock()
		if !valid || g.redirectURI != r.PostForm.Get("redirect_uri") {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		// PKCE (RFC 7636 section 4.6): the verifier must hash to the challenge.
		verifier := r.PostForm.Get("code_verifier")
		sum := sha256.Sum256([]byte(verifier))
		if g.method != "S256" || verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		idp.issueTokens(w, g.sub, g.nonce)
	case "refresh_token":
		idp.refreshCalls.Add(1)
		rt := r.PostForm.Get("refresh_token")
		idp.mu.Lock()
		sub, ok := idp.refresh[rt]
		delete(idp.refresh, rt) // rotation: single use
		idp.mu.Unlock()
		if !ok {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		idp.issueTokens(w, sub, "")
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// issueTokens answers a token response for sub.
func (idp *fakeIdP) issueTokens(w http.ResponseWriter, sub, nonce string) {
	at := "at-" + rand.Text()
	if idp.accessTokenFor != nil {
		at = idp.accessTokenFor(sub)
	}
	rt := "rt-" + rand.Text()
	idp.mu.Lock()
	idp.refresh[rt] = sub
	idp.mu.Unlock()
	now := idp.clock()
	claims := map[string]any{
		"iss": idp.issuer(), "aud": testClientID, "sub": sub,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Add(-30 * time.Second).Unix(),
		"email": sub + "@example.com", "name": "User " + sub, "groups": []string{"staff", "ops"},
		"urn:zitadel:iam:org:project:roles": map[string]any{"admin": map[string]any{}, "viewer": map[string]any{}},
		"realm_access":                      map[string]any{"roles": []string{"auditor"}},
		"acr":                               "urn:mfa", "amr": []string{"pwd", "otp"}, "sid": "sid-" + sub,
		"at_hash": atHash(at),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if idp.claimsHook != nil {
		idp.claimsHook(claims)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 3600,
		"refresh_token": rt, "id_token": idp.signID(claims),
	})
}

// signID signs ID token claims, with signIDToken when set.
func (idp *fakeIdP) signID(claims map[string]any) string {
	if idp.signIDToken == nil {
		return idp.sign(claims)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		idp.t.Fatal(err)
	}
	return idp.signIDToken(b)
}

// sign signs claims with the provider's key.
func (idp *fakeIdP) sign(claims map[string]any) string {
	b, err := json.Marshal(claims)
	if err != nil {
		idp.t.Fatal(err)
	}
	return oidctest.SignIDToken(idp.key, testKID, oidc.ES256, string(b))
}

// atHash is the at_hash of an ES256-signed ID token.
func atHash(at string) string {
	sum := sha256.Sum256([]byte(at))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// authorize plays the provider's authorization endpoint for a browser
// that followed authURL: it checks the request and returns the callback
// query (code and state) for user sub.
func (idp *fakeIdP) authorize(t *testing.T, authURL, sub string) url.Values {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != idp.issuer()+"/authorize" {
		t.Fatalf("authorization URL %q is not the provider's", u.Path)
	}
	for k, want := range map[string]string{"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirectURL, "code_challenge_method": "S256"} {
		if got := q.Get(k); got != want {
			t.Fatalf("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("nonce") == "" || len(q.Get("code_challenge")) != 43 {
		t.Fatal("authorization request lacks state, nonce or an S256 code_challenge")
	}
	code := "code-" + rand.Text()
	idp.mu.Lock()
	idp.codes[code] = &grant{challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri"), sub: sub}
	idp.mu.Unlock()
	return url.Values{"code": {code}, "state": {q.Get("state")}}
}

// fakeClock is an injectable clock with timers.
type fakeClock = fakeclock.Clock

// newClock returns a clock standing at the current second.
func newClock() *fakeClock {
	c := fakeclock.New()
	c.Set(time.Now().Truncate(time.Second))
	return c
}

// testKey returns a fresh random 32-byte key.
func testKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// newTestClient returns a Client for idp with a private memory store;
// edit adjusts the config first.
func newTestClient(t *testing.T, idp *fakeIdP, clk *fakeClock, edit func(*Config)) *Client {
	t.Helper()
	st, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		Issuer: idp.issuer(), ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURL: testRedirectURL, PostLogoutRedirectURL: "https://app.example/bye",
		Keys: [][]byte{testKey()}, Store: st, Now: clk.Now, After: clk.After,
		GroupsClaims: []string{"groups", "urn:zitadel:iam:org:project:roles", "realm_access.roles"},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// callbackRequest builds the browser's request to the redirect URI with
// query and the cookies the login redirect set.
func callbackRequest(query url.Values, cookies []*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, testRedirectURL+"?"+query.Encode(), nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}
