package session

import (
	"context"
	"errors"
	"net/http"
)

// Logout ends the session of r's cookie, if any, and returns it (for the
// RP-initiated logout URL, which wants the ID token as id_token_hint) with
// the cookie that clears the session cookie, which the adapter sets in
// every case. Without a valid session it returns (nil, clear cookie, nil):
// logging out twice is not an error. Errors are ErrUnavailable.
func (m *Manager) Logout(ctx context.Context, r *http.Request) (*Session, *http.Cookie, error) {
	clear := m.ClearCookie()
	t, err := m.ticket(r)
	if err != nil {
		return nil, clear, nil
	}
	h := t.idHash
	_, rec, err := m.read(ctx, t.key)
	switch {
	case errors.Is(err, ErrNoSession):
		return nil, clear, nil
	case err != nil:
		return nil, clear, err
	}
	if err := m.removeSession(ctx, h, rec); err != nil {
		return nil, clear, err
	}
	return m.session(h, rec), clear, nil
}

// Delete ends the session with the given IDHash (for administration and
// tests). Deleting a missing session is not an error.
func (m *Manager) Delete(ctx context.Context, idHash string) error {
	key := m.keys.session(idHash)
	_, rec, err := m.read(ctx, key)
	switch {
	case errors.Is(err, ErrNoSession):
		return nil
	case err != nil:
		return err
	}
	return m.removeSession(ctx, idHash, rec)
}

// DeleteSubject ends every session of subject (all devices) and returns
// how many session keys it removed (including ones that had already
// expired but were still indexed).
func (m *Manager) DeleteSubject(ctx context.Context, subject string) (int, error) {
	return m.deleteIndexed(ctx, m.keys.subject(subject))
}

// SubjectTokens returns the provider tokens of every live session of
// subject (to revoke them at the provider before DeleteSubject ends the
// sessions). Sessions that vanish meanwhile are skipped.
func (m *Manager) SubjectTokens(ctx context.Context, subject string) ([]Tokens, error) {
	members, err := m.atomic.Members(ctx, m.keys.subject(subject))
	if err != nil {
		return nil, unavailable("reading session index", err)
	}
	var out []Tokens
	for _, h := range members {
		_, rec, err := m.read(ctx, m.keys.session(h))
		switch {
		case errors.Is(err, ErrNoSession):
			continue
		case err != nil:
			return out, err
		}
		if rec.Subject == subject {
			out = append(out, rec.Tokens)
		}
	}
	return out, nil
}

// DeleteIdPSession ends every session created by the identity provider
// session sid (the `sid` claim), as back-channel logout asks, and returns
// how many session keys it removed.
func (m *Manager) DeleteIdPSession(ctx context.Context, sid string) (int, error) {
	return m.deleteIndexed(ctx, m.keys.sid(sid))
}

// BackchannelLogout ends the sessions a verified back-channel logout token
// names: those of the provider session sid when sid is set (the token may
// carry both), else every session of sub. It returns how many it removed.
func (m *Manager) BackchannelLogout(ctx context.Context, sub, sid string) (int, error) {
	switch {
	case sid != "":
		return m.DeleteIdPSession(ctx, sid)
	case sub != "":
		return m.DeleteSubject(ctx, sub)
	}
	return 0, errors.New("session: back-channel logout names neither sub nor sid")
}

// deleteIndexed removes every session listed in the set at idx, then the
// set.
func (m *Manager) deleteIndexed(ctx context.Context, idx string) (int, error) {
	members, err := m.atomic.Members(ctx, idx)
	if err != nil {
		return 0, unavailable("reading session index", err)
	}
	keys := make([]string, 0, len(members)+1)
	for _, h := range members {
		keys = append(keys, m.keys.session(h))
	}
	if err := m.atomic.Remove(ctx, keys...); err != nil {
		return 0, unavailable("deleting sessions", err)
	}
	if err := m.atomic.Remove(ctx, idx); err != nil {
		return len(members), unavailable("deleting session index", err)
	}
	return len(members), nil
}

// removeSession deletes the record of session h and its index entries.
// Only the record's removal must succeed; index entries of a deleted
// session are harmless and expire.
func (m *Manager) removeSession(ctx context.Context, h string, rec *record) error {
	key := m.keys.session(h)
	m.decoded.forget(key)
	if err := m.atomic.Remove(ctx, key); err != nil {
		return unavailable("deleting session", err)
	}
	_ = m.atomic.RemoveMember(ctx, m.keys.subject(rec.Subject), h)
	if rec.Claims.SID != "" {
		_ = m.atomic.RemoveMember(ctx, m.keys.sid(rec.Claims.SID), h)
	}
	return nil
}
