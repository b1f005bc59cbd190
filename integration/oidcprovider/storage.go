package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Lifetimes of short-lived artefacts that tests never need to tune.
const (
	authRequestLifetime = 10 * time.Minute
	authCodeLifetime    = 2 * time.Minute
)

// errNotFound is returned (wrapped) for unknown clients, requests and tokens.
var errNotFound = errors.New("not found")

// store is the provider's in-memory op.Storage. Every field below mu is
// guarded by it; values handed to the op package are copies, so the op
// package never shares memory with the store.
type store struct {
	keys      *keyRing
	lifetimes lifetimes
	loginURL  func(authRequestID string) string
	issuer    string
	logf      func(string, ...any)
	// strict is Config.Profile == Strict: see Strict for what it changes.
	strict bool
	// noBackChannel is Config.NoBackChannelLogout.
	noBackChannel bool
	logouts       logoutLog
	authLog       authRequestLog
	revocations   revocationLog

	mu            sync.Mutex
	users         map[string]User   // by ID
	usernames     map[string]string // username -> ID
	clients       map[string]Client // by ID
	authRequests  map[string]*authRequest
	codes         map[string]authCode // code -> auth request
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken // by token value
	sessions      map[string]*session      // browser sessions by ID
}

// lifetimes are the provider-wide token lifetimes.
type lifetimes struct {
	idToken, accessToken, refreshToken time.Duration
}

// authCode remembers which auth request a code belongs to and when it was made.
type authCode struct {
	requestID string
	created   time.Time
}

var (
	_ op.Storage                        = (*store)(nil)
	_ op.ClientCredentialsStorage       = (*store)(nil)
	_ op.CanSetUserinfoFromRequest      = (*store)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*store)(nil)
	_ op.CanTerminateSessionFromRequest = (*store)(nil)
)

func newStore(keys *keyRing, lt lifetimes, logf func(string, ...any)) *store {
	return &store{
		keys:          keys,
		lifetimes:     lt,
		logf:          logf,
		users:         map[string]User{},
		usernames:     map[string]string{},
		clients:       map[string]Client{},
		authRequests:  map[string]*authRequest{},
		codes:         map[string]authCode{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
		sessions:      map[string]*session{},
	}
}

// newID returns a random, URL-safe identifier.
func newID() string { return rand.Text() }

// putUser adds or replaces a user.
func (s *store) putUser(u User) {
	if u.ID == "" {
		u.ID = u.Username
	}
	u.Groups = slices.Clone(u.Groups)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.users[u.ID]; ok {
		delete(s.usernames, old.Username)
	}
	s.users[u.ID] = u
	s.usernames[u.Username] = u.ID
}

// updateUser applies fn to a copy of the user with the given ID and stores
// the result; the ID cannot change. It reports whether the user exists.
func (s *store) updateUser(id string, fn func(*User)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return false
	}
	u := old
	u.Groups = slices.Clone(old.Groups)
	u.Claims = maps.Clone(old.Claims)
	fn(&u)
	u.ID = id
	u.Groups = slices.Clone(u.Groups)
	u.Claims = maps.Clone(u.Claims)
	delete(s.usernames, old.Username)
	s.users[id] = u
	s.usernames[u.Username] = id
	return true
}

// deleteUser removes a user; its sessions end without back-channel logout.
func (s *store) deleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[id]; ok {
		delete(s.usernames, u.Username)
		delete(s.users, id)
	}
	for sid, sess := range s.sessions {
		if sess.userID == id {
			delete(s.sessions, sid)
		}
	}
}

// user looks a user up by ID.
func (s *store) user(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	return u, ok
}

// checkPassword returns the user whose username and password match.
func (s *store) checkPassword(username, password string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[s.usernames[username]]
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return User{}, false
	}
	return u, true
}

// putClient adds or replaces a client.
func (s *store) putClient(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

// deleteClient removes a client.
func (s *store) deleteClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
}

// client looks a client up by ID.
func (s *store) client(id string) (Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return Client{}, fmt.Errorf("client %q: %w", id, errNotFound)
	}
	return c, nil
}

// opClient wraps c with the provider defaults for op.
func (s *store) opClient(c Client) *opClient {
	return &opClient{
		c:          c,
		loginURL:   s.loginURL,
		idTokenTTL: pick(c.IDTokenLifetime, s.lifetimes.idToken),
	}
}

// pick returns override when it is set, def otherwise.
func pick(override, def time.Duration) time.Duration {
	if override > 0 {
		return override
	}
	return def
}

// GetClientByClientID implements op.Storage.
func (s *store) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	c, err := s.client(clientID)
	if err != nil {
		return nil, err
	}
	return s.opClient(c), nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *store) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	_, err := s.confidentialClient(clientID, secret)
	return err
}

// confidentialClient authenticates a confidential client.
func (s *store) confidentialClient(clientID, secret string) (Client, error) {
	c, err := s.client(clientID)
	if err != nil {
		return Client{}, err
	}
	if c.public() {
		return Client{}, fmt.Errorf("client %q is public and has no secret", clientID)
	}
	if subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return Client{}, fmt.Errorf("client %q: wrong secret", clientID)
	}
	return c, nil
}

// ClientCredentials implements op.ClientCredentialsStorage.
func (s *store) ClientCredentials(_ context.Context, clientID, secret string) (op.Client, error) {
	c, err := s.confidentialClient(clientID, secret)
	if err != nil {
		return nil, err
	}
	return s.opClient(c), nil
}

// Health implements op.Storage.
func (s *store) Health(context.Context) error { return nil }

// CreateAuthRequest implements op.Storage. Public clients must send a PKCE
// challenge with method S256. In the strict profile it drops offline_access
// without prompt=consent and reads the claims parameter.
func (s *store) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.client(req.ClientID)
	if err != nil {
		return nil, err
	}
	if c.public() && (req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256) {
		return nil, oidc.ErrInvalidRequest().WithDescription("public clients must use PKCE with code_challenge_method S256")
	}
	ar := &authRequest{
		id:           newID(),
		created:      time.Now(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       slices.Clone(req.Scopes),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		prompt:       slices.Clone([]string(req.Prompt)),
		maxAge:       req.MaxAge,
		loginHint:    req.LoginHint,
		audience:     c.audience(),
		acrValues:    slices.Clone([]string(req.ACRValues)),
	}
	if req.CodeChallenge != "" {
		ar.codeChallenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	}
	capture, _ := captured(ctx)
	if s.strict {
		if err := applyStrict(ar, req, c, capture); err != nil {
			return nil, err
		}
	}
	if capture != nil {
		s.authLog.stored(capture.index, ar.id, ar.scopes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequests[ar.id] = ar
	return ar.clone(), nil
}

// authRequestLocked returns the live auth request; s.mu must be held.
func (s *store) authRequestLocked(id string) (*authRequest, error) {
	ar, ok := s.authRequests[id]
	if !ok || time.Since(ar.created) > authRequestLifetime {
		return nil, fmt.Errorf("auth request %q: %w", id, errNotFound)
	}
	return ar, nil
}

// AuthRequestByID implements op.Storage.
func (s *store) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, err := s.authRequestLocked(id)
	if err != nil {
		return nil, err
	}
	return ar.clone(), nil
}

// authRequest returns a copy of an auth request for the login UI.
func (s *store) authRequest(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, err := s.authRequestLocked(id)
	if err != nil {
		return nil, err
	}
	return ar.clone(), nil
}

// AuthRequestByCode implements op.Storage.
func (s *store) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ac, ok := s.codes[code]
	if !ok || time.Since(ac.created) > authCodeLifetime {
		return nil, fmt.Errorf("authorization code: %w", errNotFound)
	}
	ar, err := s.authRequestLocked(ac.requestID)
	if err != nil {
		return nil, err
	}
	return ar.clone(), nil
}

// SaveAuthCode implements op.Storage.
func (s *store) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.authRequestLocked(id); err != nil {
		return err
	}
	s.codes[code] = authCode{requestID: id, created: time.Now()}
	return nil
}

// DeleteAuthRequest implements op.Storage; it also invalidates the request's
// codes, so a code can be exchanged once only.
func (s *store) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, ac := range s.codes {
		if ac.requestID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// completeAuthRequest marks an auth request as authenticated by the user of
// session sess, and records the client in the session.
func (s *store) completeAuthRequest(id string, sess *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ar, err := s.authRequestLocked(id)
	if err != nil {
		return err
	}
	live, ok := s.sessions[sess.id]
	if !ok {
		return fmt.Errorf("session: %w", errNotFound)
	}
	ar.userID = live.userID
	ar.authTime = live.authTime
	ar.amr, ar.acr = slices.Clone(live.auth.amr), live.auth.acr
	ar.sessionID = live.id
	ar.done = true
	live.clients[ar.clientID] = true
	return nil
}
