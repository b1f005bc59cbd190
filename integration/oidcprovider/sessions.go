package oidcprovider

import (
	"context"
	"net/http"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// SessionCookie is the name of the provider's browser session (single
// sign-on) cookie. It is HttpOnly, SameSite=Lax and scoped to the
// provider's host; end_session deletes it.
const SessionCookie = "oidcprovider_session"

// session is a browser's signed-in state at the provider (single sign-on).
type session struct {
	id       string
	userID   string
	authTime time.Time
	auth     authentication  // how the user authenticated
	clients  map[string]bool // clients that got an authorization in it
}

// ended describes a session that was terminated, for back-channel logout.
type ended struct {
	id      string
	userID  string
	clients []Client
}

// newSession starts a session for the user, authenticated with auth.
func (s *store) newSession(userID string, auth authentication) *session {
	sess := &session{id: newID(), userID: userID, authTime: time.Now(), auth: auth.clone(), clients: map[string]bool{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess.id] = sess
	return &session{id: sess.id, userID: sess.userID, authTime: sess.authTime, auth: auth.clone()}
}

// lookupSession returns a copy of a live session whose user still exists.
func (s *store) lookupSession(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	if _, ok := s.users[sess.userID]; !ok {
		return nil, false
	}
	return &session{id: sess.id, userID: sess.userID, authTime: sess.authTime, auth: sess.auth.clone()}, true
}

// sessionCount counts the live sessions of a user ("" counts all).
func (s *store) sessionCount(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if userID == "" || sess.userID == userID {
			n++
		}
	}
	return n
}

// endSessions removes the given session and, when userID is set, every
// session of that user. It returns what was removed.
func (s *store) endSessions(sessionID, userID string) []ended {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ended
	for id, sess := range s.sessions {
		if id != sessionID && (userID == "" || sess.userID != userID) {
			continue
		}
		e := ended{id: id, userID: sess.userID}
		for cid := range sess.clients {
			if c, ok := s.clients[cid]; ok {
				e.clients = append(e.clients, c)
			}
		}
		out = append(out, e)
		delete(s.sessions, id)
	}
	return out
}

// endSessionState carries the browser's session cookie into the storage
// during an end_session request, and reports back whether it ended.
type endSessionState struct {
	sessionID  string
	terminated bool
}

type endSessionKey struct{}

// TerminateSession implements op.Storage; the provider uses
// TerminateSessionFromRequest, so this is only a fallback.
func (s *store) TerminateSession(ctx context.Context, userID, _ string) error {
	_, err := s.TerminateSessionFromRequest(ctx, &op.EndSessionRequest{UserID: userID})
	return err
}

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest.
// It ends the browser's session (from its cookie) and, when an
// id_token_hint named a user, every session of that user; then it sends the
// back-channel logout tokens and returns the redirect op validated.
func (s *store) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	st, _ := ctx.Value(endSessionKey{}).(*endSessionState)
	cookieSession := ""
	if st != nil {
		cookieSession = st.sessionID
	}
	gone := s.endSessions(cookieSession, req.UserID)
	if st != nil {
		st.terminated = true
	}
	for _, e := range gone {
		s.sendBackChannelLogouts(ctx, e)
	}
	return req.RedirectURI, nil
}

// withEndSession wraps the end_session endpoint: it hands the session cookie
// to the storage and clears the cookie when the session was terminated.
func withEndSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &endSessionState{}
		if c, err := r.Cookie(SessionCookie); err == nil {
			st.sessionID = c.Value
		}
		r = r.WithContext(context.WithValue(r.Context(), endSessionKey{}, st))
		next.ServeHTTP(&cookieClearer{ResponseWriter: w, st: st}, r)
	})
}

// cookieClearer expires the session cookie on the response once the storage
// reported the session terminated.
type cookieClearer struct {
	http.ResponseWriter
	st    *endSessionState
	wrote bool
}

// WriteHeader adds the expiring cookie before the status line goes out.
func (c *cookieClearer) WriteHeader(code int) {
	if !c.wrote {
		c.wrote = true
		if c.st.terminated {
			http.SetCookie(c.ResponseWriter, expiredSessionCookie())
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

// Write makes sure WriteHeader ran first.
func (c *cookieClearer) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// sessionCookieFor makes the cookie that names session id.
func sessionCookieFor(id string) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// expiredSessionCookie deletes the session cookie.
func expiredSessionCookie() *http.Cookie {
	c := sessionCookieFor("")
	c.MaxAge = -1
	return c
}
