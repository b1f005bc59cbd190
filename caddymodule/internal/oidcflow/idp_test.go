package oidcflow

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/fakeclock"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const (
	testClientID     = "gateway"
	testClientSecret = "s3cret-client-secret"
	testRedirectURL  = "https://app.example/.portcullis/callback"
	testKID          = "k1"  // the provider's ES256 key
	testEdKID        = "ed1" // its Ed25519 key (JWK alg Ed25519, crv Ed25519)
	testRSAKID       = "rs1" // its RSA key (JWK without alg: RS* and PS*)
	// leakMarker is what the fake provider puts in error descriptions and
	// bodies; it must never reach an error or a Problem.
	leakMarker = "secret-detail-must-not-leak"
)

// testRSAKey is generated once: RSA key generation is slow under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// canned is a response the fake provider sends instead of the real one.
// "{token}" in the body and header values is replaced by the token,
// code or grant the request presented (so tests can check that nothing
// the provider echoes reaches an error).
type canned struct {
	status      int // default 200
	contentType string
	body        string
	header      map[string]string
}

func (c *canned) write(w http.ResponseWriter, presented string) {
	for k, v := range c.header {
		w.Header().Set(k, strings.ReplaceAll(v, "{token}", presented))
	}
	if c.contentType != "" {
		w.Header().Set("Content-Type", c.contentType)
	}
	w.WriteHeader(cmpOr(c.status, http.StatusOK))
	io.WriteString(w, strings.ReplaceAll(c.body, "{token}", presented))
}

func cmpOr(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// fakeIdP is a strictly conformant OpenID provider for tests: discovery
// (with RFC 9207's iss and the claims parameter), JWKS with ES256, RSA and
// Ed25519 keys, a token endpoint that checks PKCE, redirect_uri and
// client authentication (Basic with form-encoded credentials,
// client_secret_post, or none for public clients) and rotates refresh
// tokens, a UserInfo endpoint (JSON or signed JWT) serving each user's
// current profile, and a revocation endpoint that records what it got.
// The authorization step is done by the test with authorize, which
// records what the "browser" brought.
//
// Plain fields are set before the requests that use them; the atomic
// switches may be flipped at any time.
type fakeIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey  // ES256, kid k1
	edKey  ed25519.PrivateKey // Ed25519, kid ed1
	rsaKey *rsa.PrivateKey    // RS256 and PS256, kid rs1
	keys   *oidctest.Server   // the published JWKS; replace under mu to rotate
	clock  func() time.Time

	down           atomic.Bool // discovery answers 503
	keysDown       atomic.Bool // JWKS answers 503
	tokenDown      atomic.Bool // token endpoint answers 503
	invalidClient  atomic.Bool // token endpoint answers 401 invalid_client
	discoveryHits  atomic.Int64
	keyHits        atomic.Int64
	tokenHits      atomic.Int64
	refreshCalls   atomic.Int64
	userinfoHits   atomic.Int64
	revocationHits atomic.Int64

	noEndSession     bool
	noUserInfo       bool                       // no userinfo_endpoint
	noRevocation     bool                       // no revocation_endpoint
	noClaimsParam    bool                       // claims_parameter_supported absent
	iss9207          bool                       // advertise RFC 9207 and send iss
	sendIss          bool                       // send iss without advertising it
	authMethods      []string                   // token_endpoint_auth_methods_supported
	clientSecret     string                     // the registered secret; "" for a public client
	idAlg            string                     // ID token signature; default ES256
	discoveryEdit    func(doc map[string]any)   // edits the discovery document
	discoveryRaw     *canned                    // served instead of the discovery document
	claimsHook       func(map[string]any)       // edits ID token claims before signing
	refreshHook      func(map[string]any)       // then edits those of refresh responses
	signIDToken      func(claims []byte) string // replaces the signature step
	accessTokenFor   func(sub string) string
	tokenFailure     *canned              // the token endpoint answers this
	noRefreshToken   bool                 // the code exchange issues no refresh token
	noRotation       bool                 // refresh responses carry no refresh token
	refreshNoIDToken bool                 // refresh responses carry no ID token
	uiJWT            bool                 // UserInfo answers a signed JWT
	uiAlg            string               // its signature; default ES256
	uiFailure        *canned              // UserInfo answers this
	uiHook           func(map[string]any) // edits UserInfo claims (after iss and aud in JWT mode)
	revFailure       *canned              // the revocation endpoint answers this

	mu          sync.Mutex
	codes       map[string]*grant
	refresh     map[string]*refreshGrant
	access      map[string]string         // access token -> subject
	users       map[string]map[string]any // subject -> profile (user claims)
	revocations []revocation
	tokenAuth   []string     // client authentication of each token request
	authQueries []url.Values // authorization requests authorize saw
	secrets     []string     // codes and tokens issued
}

// grant is an issued authorization code.
type grant struct {
	challenge, method, nonce, redirectURI, sub string
	authTime                                   bool // auth_time was asked for
	used                                       bool
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	sub      string
	authTime int64 // of the login; 0 when not asked for
}

// revocation is a request the revocation endpoint received.
type revocation struct {
	token, hint   string
	auth          string // client_secret_basic, client_secret_post, none
	authOK        bool
	authorization string // the raw Authorization header
	form          url.Values
}

func newIdP(t *testing.T, clock func() time.Time) *fakeIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := testRSAKey()
	idp := &fakeIdP{
		t: t, key: key, edKey: edKey, rsaKey: rsaKey, clock: clock,
		keys: &oidctest.Server{PublicKeys: []oidctest.PublicKey{
			{PublicKey: key.Public(), KeyID: testKID, Algorithm: "ES256"},
			{PublicKey: edPub, KeyID: testEdKID, Algorithm: "Ed25519"},
			{PublicKey: rsaKey.Public(), KeyID: testRSAKID},
		}},
		authMethods:  []string{"client_secret_basic"},
		clientSecret: testClientSecret,
		codes:        map[string]*grant{},
		refresh:      map[string]*refreshGrant{},
		access:       map[string]string{},
		users:        map[string]map[string]any{},
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
		idp.discovery(w)
	case "/keys":
		idp.keyHits.Add(1)
		if idp.keysDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		idp.mu.Lock()
		keys := idp.keys // replaced by rotations
		idp.mu.Unlock()
		keys.ServeHTTP(w, r)
	case "/token":
		idp.token(w, r)
	case "/userinfo":
		idp.userinfo(w, r)
	case "/revoke":
		idp.revoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (idp *fakeIdP) discovery(w http.ResponseWriter) {
	idp.discoveryHits.Add(1)
	if idp.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if idp.discoveryRaw != nil {
		idp.discoveryRaw.write(w, "")
		return
	}
	iss := idp.issuer()
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/keys",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"ES256", "RS256", "PS256", "EdDSA", "Ed25519", "HS256", "none"},
		"token_endpoint_auth_methods_supported": idp.authMethods,
	}
	if !idp.noEndSession {
		doc["end_session_endpoint"] = iss + "/logout?tenant=t1"
	}
	if !idp.noUserInfo {
		doc["userinfo_endpoint"] = iss + "/userinfo"
	}
	if !idp.noRevocation {
		doc["revocation_endpoint"] = iss + "/revoke"
	}
	if !idp.noClaimsParam {
		doc["claims_parameter_supported"] = true
	}
	if idp.iss9207 {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if idp.discoveryEdit != nil {
		idp.discoveryEdit(doc)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// writeTokenError answers an OAuth error whose description echoes what
// the request presented.
func writeTokenError(w http.ResponseWriter, status int, code, presented string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": leakMarker + " " + presented})
}

// clientAuth checks the client authentication of a token or revocation
// request (its form parsed): HTTP Basic with the form-encoded id and
// secret (RFC 6749 §2.3.1), client_secret_post, or none for a public
// client; the method must be one the metadata lists.
func (idp *fakeIdP) clientAuth(r *http.Request) (style string, ok bool) {
	if u, p, has := r.BasicAuth(); has {
		id, err1 := url.QueryUnescape(u)
		secret, err2 := url.QueryUnescape(p)
		ok = err1 == nil && err2 == nil && id == testClientID && idp.clientSecret != "" && secret == idp.clientSecret &&
			!r.PostForm.Has("client_secret")
		return "client_secret_basic", ok && slices.Contains(idp.authMethods, "client_secret_basic")
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if secret != "" {
		ok = id == testClientID && idp.clientSecret != "" && secret == idp.clientSecret
		return "client_secret_post", ok && slices.Contains(idp.authMethods, "client_secret_post")
	}
	return "none", id == testClientID && idp.clientSecret == ""
}

func (idp *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	idp.tokenHits.Add(1)
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeTokenError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	presented := r.PostForm.Get("code") + r.PostForm.Get("refresh_token")
	if r.PostForm.Get("grant_type") == "refresh_token" {
		idp.refreshCalls.Add(1)
	}
	switch {
	case idp.tokenDown.Load():
		writeTokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", presented)
		return
	case idp.invalidClient.Load():
		w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
		writeTokenError(w, http.StatusUnauthorized, "invalid_client", presented)
		return
	case idp.tokenFailure != nil:
		idp.tokenFailure.write(w, presented)
		return
	}
	style, ok := idp.clientAuth(r)
	idp.mu.Lock()
	idp.tokenAuth = append(idp.tokenAuth, style)
	idp.mu.Unlock()
	if !ok {
		writeTokenError(w, http.StatusUnauthorized, "invalid_client", presented)
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
			writeTokenError(w, http.StatusBadRequest, "invalid_grant", presented)
			return
		}
		// PKCE (RFC 7636 section 4.6): the verifier must hash to the challenge.
		verifier := r.PostForm.Get("code_verifier")
		sum := sha256.Sum256([]byte(verifier))
		if g.method != "S256" || verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			writeTokenError(w, http.StatusBadRequest, "invalid_grant", presented)
			return
		}
		var authTime int64
		if g.authTime {
			authTime = idp.clock().Add(-30 * time.Second).Unix()
		}
		idp.issueTokens(w, g.sub, g.nonce, authTime, false)
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		idp.mu.Lock()
		rg, ok := idp.refresh[rt]
		delete(idp.refresh, rt) // rotation: single use
		idp.mu.Unlock()
		if !ok {
			writeTokenError(w, http.StatusBadRequest, "invalid_grant", presented)
			return
		}
		idp.issueTokens(w, rg.sub, "", rg.authTime, true)
	default:
		writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", presented)
	}
}

// defaultProfile is a user's profile until setUser changes it.
func defaultProfile(sub string) map[string]any {
	return map[string]any{
		"email": sub + "@example.com", "name": "User " + sub, "groups": []any{"staff", "ops"},
		"urn:zitadel:iam:org:project:roles": map[string]any{"admin": map[string]any{}, "viewer": map[string]any{}},
		"realm_access":                      map[string]any{"roles": []any{"auditor"}},
	}
}

// user returns a copy of sub's current profile.
func (idp *fakeIdP) user(sub string) map[string]any {
	idp.mu.Lock()
	p, ok := idp.users[sub]
	idp.mu.Unlock()
	if !ok {
		p = defaultProfile(sub)
	}
	b, _ := json.Marshal(p)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// setUser replaces sub's profile (as an administrator at the provider).
func (idp *fakeIdP) setUser(sub string, profile map[string]any) {
	idp.mu.Lock()
	idp.users[sub] = profile
	idp.mu.Unlock()
}

// issueTokens answers a token response for sub. The ID token carries
// the user's profile, the nonce when set and auth_time when the login
// asked for it (OIDC Core §2: only then is it required).
func (idp *fakeIdP) issueTokens(w http.ResponseWriter, sub, nonce string, authTime int64, refresh bool) {
	at := "at-" + rand.Text()
	if idp.accessTokenFor != nil {
		at = idp.accessTokenFor(sub)
	}
	alg := cmpOrString(idp.idAlg, "ES256")
	now := idp.clock()
	claims := map[string]any{
		"iss": idp.issuer(), "aud": testClientID, "sub": sub,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"acr": "urn:mfa", "amr": []string{"pwd", "otp"}, "sid": "sid-" + sub,
		"at_hash": atHashFor(alg, at),
	}
	maps.Copy(claims, idp.user(sub))
	if authTime != 0 {
		claims["auth_time"] = authTime
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if idp.claimsHook != nil {
		idp.claimsHook(claims)
	}
	if refresh && idp.refreshHook != nil {
		idp.refreshHook(claims)
	}
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600}
	idp.mu.Lock()
	idp.access[at] = sub
	idp.secrets = append(idp.secrets, at)
	if !(refresh && idp.noRotation) && !(!refresh && idp.noRefreshToken) {
		rt := "rt-" + rand.Text()
		idp.refresh[rt] = &refreshGrant{sub: sub, authTime: authTime}
		idp.secrets = append(idp.secrets, rt)
		resp["refresh_token"] = rt
	}
	idp.mu.Unlock()
	if !(refresh && idp.refreshNoIDToken) {
		id := idp.signID(claims)
		resp["id_token"] = id
		idp.mu.Lock()
		idp.secrets = append(idp.secrets, id)
		idp.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func cmpOrString(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// userinfo serves the profile of the access token's user (OIDC Core
// §5.3): JSON, or a JWT signed with uiAlg carrying iss and aud.
func (idp *fakeIdP) userinfo(w http.ResponseWriter, r *http.Request) {
	idp.userinfoHits.Add(1)
	at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if idp.uiFailure != nil {
		idp.uiFailure.write(w, at)
		return
	}
	idp.mu.Lock()
	sub, ok := idp.access[at]
	idp.mu.Unlock()
	if !ok || at == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	claims := idp.user(sub)
	claims["sub"] = sub
	if idp.uiJWT {
		claims["iss"], claims["aud"] = idp.issuer(), testClientID
	}
	if idp.uiHook != nil {
		idp.uiHook(claims)
	}
	if idp.uiJWT {
		w.Header().Set("Content-Type", "application/jwt")
		io.WriteString(w, idp.jws(cmpOrString(idp.uiAlg, "ES256"), nil, claims))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(claims)
}

// revoke is the RFC 7009 revocation endpoint: it records each request,
// checks the client authentication and forgets the token.
func (idp *fakeIdP) revoke(w http.ResponseWriter, r *http.Request) {
	idp.revocationHits.Add(1)
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeTokenError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	style, ok := idp.clientAuth(r)
	token := r.PostForm.Get("token")
	idp.mu.Lock()
	idp.revocations = append(idp.revocations, revocation{
		token: token, hint: r.PostForm.Get("token_type_hint"), auth: style, authOK: ok,
		authorization: r.Header.Get("Authorization"), form: r.PostForm,
	})
	idp.mu.Unlock()
	if idp.revFailure != nil {
		idp.revFailure.write(w, token)
		return
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="idp", error="invalid_client"`)
		writeTokenError(w, http.StatusUnauthorized, "invalid_client", token)
		return
	}
	idp.mu.Lock()
	delete(idp.refresh, token)
	delete(idp.access, token)
	idp.mu.Unlock()
}

// revoked returns the revocation requests received.
func (idp *fakeIdP) revoked() []revocation {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return slices.Clone(idp.revocations)
}

// tokenAuths returns the client authentication of each token request.
func (idp *fakeIdP) tokenAuths() []string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return slices.Clone(idp.tokenAuth)
}

// issuedSecrets returns the codes and tokens the provider issued.
func (idp *fakeIdP) issuedSecrets() []string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return slices.Clone(idp.secrets)
}

// signID signs ID token claims, with signIDToken when set.
func (idp *fakeIdP) signID(claims map[string]any) string {
	if idp.signIDToken == nil {
		return idp.jws(cmpOrString(idp.idAlg, "ES256"), nil, claims)
	}
	b, err := json.Marshal(claims)
	if err != nil {
		idp.t.Error(err)
	}
	return idp.signIDToken(b)
}

// sign signs claims with the provider's ES256 key.
func (idp *fakeIdP) sign(claims map[string]any) string { return idp.jws("ES256", nil, claims) }

// kidOf is the kid of the provider's key for alg.
func kidOf(alg string) string {
	switch alg {
	case "RS256", "PS256":
		return testRSAKID
	case "EdDSA", "Ed25519":
		return testEdKID
	}
	return testKID
}

// jws returns a compact JWS of claims signed with the provider's key for
// keyAlg by that algorithm's scheme. Its header is alg keyAlg and that
// key's kid, then header's members (a nil value removes one), so a test
// can send a signature under a header that lies about it.
func (idp *fakeIdP) jws(keyAlg string, header, claims map[string]any) string {
	h := map[string]any{"alg": keyAlg, "kid": kidOf(keyAlg)}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, err1 := json.Marshal(h)
	cb, err2 := json.Marshal(claims)
	if err1 != nil || err2 != nil {
		idp.t.Errorf("encoding a JWS: %v %v", err1, err2)
		return ""
	}
	enc := base64.RawURLEncoding.EncodeToString
	input := enc(hb) + "." + enc(cb)
	return input + "." + enc(idp.signBytes(keyAlg, []byte(input)))
}

// signBytes signs input by alg's scheme with the provider's key for alg.
func (idp *fakeIdP) signBytes(alg string, input []byte) []byte {
	sum := sha256.Sum256(input)
	var sig []byte
	var err error
	switch alg {
	case "ES256":
		r, s, serr := ecdsa.Sign(rand.Reader, idp.key, sum[:])
		sig, err = make([]byte, 64), serr
		if err == nil {
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case "RS256":
		sig, err = rsa.SignPKCS1v15(nil, idp.rsaKey, crypto.SHA256, sum[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, idp.rsaKey, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "EdDSA", "Ed25519":
		sig = ed25519.Sign(idp.edKey, input)
	default:
		idp.t.Errorf("the fake provider cannot sign %s", alg)
	}
	if err != nil {
		idp.t.Errorf("signing %s: %v", alg, err)
	}
	return sig
}

// atHash is the at_hash of an ES256-signed ID token.
func atHash(at string) string { return atHashFor("ES256", at) }

// atHashFor is the at_hash of an ID token signed with alg (OIDC Core
// §3.1.3.6: the left half of the hash of alg's hash function; SHA-512
// for EdDSA and Ed25519).
func atHashFor(alg, at string) string {
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	case strings.HasSuffix(alg, "512"), alg == "EdDSA", alg == "Ed25519":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(at))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// authorize plays the provider's authorization endpoint for a browser
// that followed authURL: it checks the request and returns the callback
// query (code and state, and iss per RFC 9207 when enabled) for user
// sub. auth_time goes into the ID token only when asked for (max_age, or
// the claims parameter).
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
	authTime := q.Has("max_age")
	if cr := q.Get("claims"); cr != "" {
		var req struct {
			IDToken map[string]json.RawMessage `json:"id_token"`
		}
		if err := json.Unmarshal([]byte(cr), &req); err != nil {
			t.Fatalf("claims parameter %q: %v", cr, err)
		}
		_, asked := req.IDToken["auth_time"]
		authTime = authTime || asked
	}
	code := "code-" + rand.Text()
	idp.mu.Lock()
	idp.codes[code] = &grant{challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), nonce: q.Get("nonce"),
		redirectURI: q.Get("redirect_uri"), sub: sub, authTime: authTime}
	idp.authQueries = append(idp.authQueries, q)
	idp.secrets = append(idp.secrets, code)
	idp.mu.Unlock()
	out := url.Values{"code": {code}, "state": {q.Get("state")}}
	if idp.iss9207 || idp.sendIss {
		out.Set("iss", idp.issuer())
	}
	return out
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

// tryLogin runs a full login for sub and returns the callback's outcome.
func tryLogin(t *testing.T, c *Client, idp *fakeIdP, sub string) (*Result, error) {
	t.Helper()
	red, err := c.StartLogin(t.Context(), LoginOptions{})
	if err != nil {
		return nil, err
	}
	return c.Callback(t.Context(), callbackRequest(idp.authorize(t, red.URL, sub), red.SetCookies))
}

// problemLog records the Problems a Client reports.
type problemLog struct {
	mu   sync.Mutex
	list []Problem
}

func (l *problemLog) add(p Problem) {
	l.mu.Lock()
	l.list = append(l.list, p)
	l.mu.Unlock()
}

// take returns the Problems reported since the last take.
func (l *problemLog) take() []Problem {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.list
	l.list = nil
	return out
}

// all returns every Problem reported (without forgetting them).
func (l *problemLog) all() []Problem {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// mustProvider returns c's discovered provider.
func mustProvider(t *testing.T, c *Client) *provider {
	t.Helper()
	p, err := c.provider(t.Context())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p
}

// idClaims returns valid ID token claims for sub at now (no nonce).
func idClaims(idp *fakeIdP, sub string, now time.Time) map[string]any {
	return map[string]any{
		"iss": idp.issuer(), "aud": testClientID, "sub": sub,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// assertNoSecret fails when text contains one of secrets.
func assertNoSecret(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s %q leaks a secret (%.12s…)", what, text, s)
		}
	}
}
