package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// idBytes is the entropy of a session id: 256 bits.
const idBytes = 32

// Store key kinds (inside the hash tag).
const (
	kindSession = "s"   // a session record, by id hash
	kindSubject = "su"  // the set of a subject's session id hashes
	kindSID     = "sid" // the set of session id hashes of one IdP session
)

// lockSuffix follows a session key's hash tag for its refresh lock, so
// record and lock share a Redis Cluster slot.
const lockSuffix = ":refresh"

// newID returns a fresh random session id, base64url without padding.
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID reports whether id looks like one newID returns.
func validID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// hashID returns the IDHash of a session id.
func hashID(id string) string {
	return hashString("session id", id)
}

// hashString returns base64url(SHA-256(domain NUL s)), for store keys that
// must not reveal what they index.
func hashString(domain, s string) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// record is what the store holds for one session, sealed.
type record struct {
	Version  int    `json:"v"`
	Subject  string `json:"sub"`
	Provider string `json:"prov,omitempty"`
	// Remembered: created by a "remember me" login, with the Manager's
	// RememberTimeout and RememberIdleTimeout.
	Remembered bool      `json:"rem,omitempty"`
	Claims     Claims    `json:"claims"`
	Tokens     Tokens    `json:"tokens"`
	Created    time.Time `json:"created"`
	LastSeen   time.Time `json:"last_seen"`
	Expires    time.Time `json:"expires"`
}

const recordVersion = 1

// keys derives the store keys of the Manager's records.
type keys struct{ prefix string }

// session returns the store key of the record with id hash h.
func (k keys) session(h string) string { return store.Key(k.prefix, kindSession, h) }

// lock returns the refresh lock key of the record with id hash h.
func (k keys) lock(h string) string { return k.session(h) + lockSuffix }

// subject returns the key of a subject's index set.
func (k keys) subject(sub string) string {
	return store.Key(k.prefix, kindSubject, hashString("subject", sub))
}

// sid returns the key of an IdP session's index set.
func (k keys) sid(sid string) string {
	return store.Key(k.prefix, kindSID, hashString("sid", sid))
}

// encode seals rec for the store key key.
func (m *Manager) encode(rec *record, key string) ([]byte, error) {
	pt, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("session: encoding record: %w", err)
	}
	return m.sealer.Seal(pt, key), nil
}

// decode opens a record read from key. A record that does not open or
// parse is treated as absent (ErrNotFound): it was sealed with a key no
// longer configured, or tampered with.
func (m *Manager) decode(raw []byte, key string) (*record, error) {
	if rec, ok := m.decoded.get(key, raw); ok {
		return rec, nil
	}
	pt, err := m.sealer.Open(raw, key)
	if err != nil {
		return nil, fmt.Errorf("%w (record does not decrypt)", ErrNotFound)
	}
	var rec record
	if err := json.Unmarshal(pt, &rec); err != nil || rec.Version != recordVersion || rec.Subject == "" {
		return nil, fmt.Errorf("%w (record is malformed)", ErrNotFound)
	}
	m.decoded.put(key, raw, &rec)
	return &rec, nil
}

// session builds the Session value of rec.
func (m *Manager) session(idHash string, rec *record) *Session {
	s := new(Session)
	m.fill(s, idHash, rec)
	return s
}

// fill sets s to the Session value of rec. s shares rec's Claims slices
// and map (read-only, see Session).
func (m *Manager) fill(s *Session, idHash string, rec *record) {
	idle := rec.LastSeen.Add(m.idleOf(rec))
	if idle.After(rec.Expires) {
		idle = rec.Expires
	}
	*s = Session{
		IDHash:      idHash,
		Subject:     rec.Subject,
		Provider:    rec.Provider,
		Remembered:  rec.Remembered,
		Claims:      rec.Claims,
		Tokens:      rec.Tokens,
		Created:     rec.Created,
		LastSeen:    rec.LastSeen,
		Expires:     rec.Expires,
		IdleExpires: idle,
	}
}

// expiryGrace keeps an ended record in the store a little past its end,
// so a request arriving after a timeout is told which timeout ended the
// session (for the session_expired audit event) rather than "not found".
// Expiry itself is enforced on read (checkExpiry), not by the TTL.
const expiryGrace = time.Minute

// ttl returns how long rec stays valid at now: min(idle, remaining
// absolute); zero or negative when the session has ended. Records are
// stored for ttl + expiryGrace.
func (m *Manager) ttl(rec *record, now time.Time) time.Duration {
	return min(m.idleOf(rec), rec.Expires.Sub(now))
}

// idleOf returns rec's idle timeout: the remembered one for a
// remembered session.
func (m *Manager) idleOf(rec *record) time.Duration {
	if rec.Remembered {
		return m.rememberIdle
	}
	return m.idle
}
