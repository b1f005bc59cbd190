package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Defaults of Config.
const (
	// DefaultKeyPrefix prefixes every store key (`pcl:{s:<hash>}`).
	DefaultKeyPrefix = "pcl"
	// DefaultIdleTimeout ends a session unused for this long.
	DefaultIdleTimeout = time.Hour
	// DefaultAbsoluteTimeout ends a session this long after login.
	DefaultAbsoluteTimeout = 12 * time.Hour
	// MaxTouchInterval caps the default TouchInterval.
	MaxTouchInterval = 30 * time.Second
	// DefaultRefreshMargin: tokens are refreshed when less than this (or
	// less than 20% of their lifetime, whichever is more) is left.
	DefaultRefreshMargin = 30 * time.Second
	// DefaultRefreshLockTTL is how long one replica holds the right to
	// refresh a session's tokens; the refresh call is cut off before it
	// ends. After a transient failure, the next attempt waits for it.
	DefaultRefreshLockTTL = 10 * time.Second
	// DefaultRefreshWait is how long a request whose access token has
	// already expired waits for another request's refresh.
	DefaultRefreshWait = 3 * time.Second
)

// Config configures a Manager. Store and Keys are required; everything
// else has a default.
type Config struct {
	// Store holds the session records. Required.
	Store store.Store
	// Atomic provides compare-and-swap and index sets on Store. Default:
	// AtomicFor(Store). Tests inject a counting wrapper here.
	Atomic Atomic
	// Keys are the configured secrets, each at least MinKeyBytes long.
	// The first seals records and encodes cookies; all are accepted when
	// reading (rotation: add a new key first, drop an old one after
	// AbsoluteTimeout). Required.
	Keys [][]byte
	// KeyPrefix prefixes store keys. Default: DefaultKeyPrefix. Must pass
	// store.ValidatePrefix.
	KeyPrefix string
	// IdleTimeout ends a session not used for this long (sliding).
	// Default: DefaultIdleTimeout. It is enforced with a precision of
	// TouchInterval: a session may end up to TouchInterval early.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, however
	// active; never extended. Default: DefaultAbsoluteTimeout. Must not
	// be less than IdleTimeout.
	AbsoluteTimeout time.Duration
	// RememberTimeout is the absolute lifetime of a session whose login
	// asked to be remembered (Login.Remember, "remember me"): longer than
	// AbsoluteTimeout, still ended by logout and revocation. Zero: no
	// session is remembered (Login.Remember is ignored).
	RememberTimeout time.Duration
	// RememberIdleTimeout is the idle timeout of a remembered session.
	// Default: IdleTimeout.
	RememberIdleTimeout time.Duration
	// TouchInterval: a Load writes the session's last-seen time (sliding
	// the idle timeout) only when it is older than this, so an active
	// session costs at most one store write per interval, not one per
	// request. Default: min(IdleTimeout/10, MaxTouchInterval).
	TouchInterval time.Duration
	// Cookie configures the session cookie.
	Cookie CookieConfig
	// Refresher renews IdP tokens before they expire. Nil: tokens are
	// never refreshed (sessions are unaffected by token expiry).
	Refresher Refresher
	// RefreshMargin: see DefaultRefreshMargin. Default: that.
	RefreshMargin time.Duration
	// RefreshLockTTL: see DefaultRefreshLockTTL. Default: that.
	RefreshLockTTL time.Duration
	// RefreshWait: see DefaultRefreshWait. Default: that.
	RefreshWait time.Duration
	// OnRefresh, when set, is told of every refresh this Manager makes at
	// the provider (err nil on success), for audit events and metrics.
	OnRefresh func(subject string, err error)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Manager creates, loads and ends sessions. Every Load reads the store,
// so every replica sharing the store sees every change at once; the only
// memory it keeps is of records it decoded, used when the bytes read are
// the very bytes decoded before (see recordCache). Create it with New; it
// is safe for concurrent use.
type Manager struct {
	st        store.Store
	atomic    Atomic
	keys      keys
	sealer    *Sealer
	codecs    []securecookie.Codec
	cookie    CookieConfig
	idle      time.Duration
	absolute  time.Duration
	touch     time.Duration
	refresher Refresher
	margin    time.Duration
	lockTTL   time.Duration
	onRefresh func(subject string, err error)
	wait      time.Duration
	now       func() time.Time
	decoded   recordCache

	remember, rememberIdle time.Duration // Config.RememberTimeout, RememberIdleTimeout
	tickets                ticketCache
}

// New checks cfg, applies defaults and returns a Manager. It does no I/O.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("session: a store is required")
	}
	m := &Manager{
		st:        cfg.Store,
		atomic:    cfg.Atomic,
		idle:      orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		absolute:  orDefault(cfg.AbsoluteTimeout, DefaultAbsoluteTimeout),
		refresher: cfg.Refresher,
		margin:    orDefault(cfg.RefreshMargin, DefaultRefreshMargin),
		lockTTL:   orDefault(cfg.RefreshLockTTL, DefaultRefreshLockTTL),
		onRefresh: cfg.OnRefresh,
		wait:      orDefault(cfg.RefreshWait, DefaultRefreshWait),
		now:       cfg.Now,
	}
	if m.atomic == nil {
		m.atomic = AtomicFor(cfg.Store)
	}
	if m.now == nil {
		m.now = time.Now
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	m.keys = keys{prefix: prefix}
	if m.idle < 0 || m.absolute < 0 || cfg.TouchInterval < 0 || m.margin < 0 || m.lockTTL < 0 || m.wait < 0 {
		return nil, errors.New("session: durations must not be negative")
	}
	if m.absolute < m.idle {
		return nil, fmt.Errorf("session: absolute timeout %v is shorter than idle timeout %v", m.absolute, m.idle)
	}
	m.remember, m.rememberIdle = cfg.RememberTimeout, orDefault(cfg.RememberIdleTimeout, m.idle)
	if m.remember < 0 || m.rememberIdle < 0 {
		return nil, errors.New("session: durations must not be negative")
	}
	if m.remember > 0 && (m.remember < m.absolute || m.remember < m.rememberIdle) {
		return nil, fmt.Errorf("session: remember-me lifetime %v is shorter than the absolute timeout %v or its idle timeout %v", m.remember, m.absolute, m.rememberIdle)
	}
	m.touch = cfg.TouchInterval
	if m.touch == 0 {
		m.touch = min(m.idle/10, MaxTouchInterval)
	}
	var err error
	if m.sealer, err = newSealer(cfg.Keys); err != nil {
		return nil, err
	}
	// securecookie's own timestamp check (real time) backs up the record's
	// absolute expiry.
	if m.codecs, err = DeriveCodecs(cfg.Keys, PurposeTicket, max(m.absolute, m.remember)+time.Hour); err != nil {
		return nil, err
	}
	if m.cookie, err = cfg.Cookie.withDefaults(); err != nil {
		return nil, err
	}
	return m, nil
}

// orDefault returns d for a zero v.
func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

// Create starts a new session for login with a fresh id (never one the
// client chose: no session fixation) and returns it with the cookie to
// set. It indexes the session by subject and by IdP `sid` for
// revocation.
func (m *Manager) Create(ctx context.Context, login Login) (*Session, *http.Cookie, error) {
	if login.Subject == "" {
		return nil, nil, errors.New("session: login without a subject")
	}
	now := m.now()
	if login.Tokens.Obtained.IsZero() {
		login.Tokens.Obtained = now
	}
	lifetime := m.absolute
	rec := &record{
		Version:  recordVersion,
		Subject:  login.Subject,
		Provider: login.Provider,
		Claims:   login.Claims,
		Tokens:   login.Tokens,
		Created:  now,
		LastSeen: now,
	}
	if login.Remember && m.remember > 0 {
		lifetime, rec.Remembered = m.remember, true
	}
	rec.Expires = now.Add(lifetime)
	id := newID()
	h := hashID(id)
	key := m.keys.session(h)
	raw, err := m.encode(rec, key)
	if err != nil {
		return nil, nil, err
	}
	// Index first: a session that exists is always revocable.
	if err := m.atomic.AddMember(ctx, m.keys.subject(rec.Subject), h, lifetime); err != nil {
		return nil, nil, unavailable("indexing session", err)
	}
	if sid := rec.Claims.SID; sid != "" {
		if err := m.atomic.AddMember(ctx, m.keys.sid(sid), h, lifetime); err != nil {
			return nil, nil, unavailable("indexing session", err)
		}
	}
	if err := m.st.Set(ctx, key, raw, m.ttl(rec, now)+expiryGrace); err != nil {
		return nil, nil, unavailable("writing session", err)
	}
	ck, err := m.ticketCookie(id, rec.Expires)
	if err != nil {
		return nil, nil, err
	}
	return m.session(h, rec), ck, nil
}

// Load returns the session of r's cookie. It reads the store once (plus
// one write at most every TouchInterval to slide the idle timeout, and a
// refresh when the IdP tokens are about to expire). Errors: ErrNoSession
// and its reasons (not authenticated; see Reason), ErrUnavailable (the
// store failed: answer 503, do not redirect).
func (m *Manager) Load(ctx context.Context, r *http.Request) (*Session, error) {
	s := new(Session)
	if err := m.LoadInto(ctx, r, s); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadInto is Load writing the session into s, which the caller may keep
// on its stack: a request path that only reads the session then
// allocates none. On error s is left unchanged.
func (m *Manager) LoadInto(ctx context.Context, r *http.Request, s *Session) error {
	t, err := m.ticket(r)
	if err != nil {
		return err
	}
	return m.loadVia(ctx, t.idHash, t.key, s, nil)
}

// Fetch reads the sealed record at key for LoadVia, as the store's Get
// would: the value stored there now (this very call must read it), an
// error wrapping store.ErrNotFound when there is none, any other error
// when the store failed. subject is a hint: the subject of the record
// this Manager last decoded at key (a session's subject never changes),
// or "" when it decoded none there. The value is only read.
type Fetch func(ctx context.Context, key, subject string) ([]byte, error)

// LoadVia is LoadInto reading the session record with fetch instead of
// the store's Get, so that the caller can send other commands in the
// same round trip (the adapter sends the rate-limit scripts of the
// subject's buckets). Everything else is as LoadInto: the record fetch
// returns is the one opened, checked, refreshed and touched, and fetch
// is called at most once (a refresh reads the store itself).
func (m *Manager) LoadVia(ctx context.Context, r *http.Request, s *Session, fetch Fetch) error {
	t, err := m.ticket(r)
	if err != nil {
		return err
	}
	return m.loadVia(ctx, t.idHash, t.key, s, fetch)
}

// Store returns the store the sessions are kept in.
func (m *Manager) Store() store.Store { return m.st }

// LoadID is Load for a session id already taken from a cookie (see
// DecodeTicket).
func (m *Manager) LoadID(ctx context.Context, id string) (*Session, error) {
	h := hashID(id)
	s := new(Session)
	if err := m.loadVia(ctx, h, m.keys.session(h), s, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// loadVia loads into s the session whose id hashes to h, stored at key,
// read with fetch (nil: the store's Get).
func (m *Manager) loadVia(ctx context.Context, h, key string, s *Session, fetch Fetch) error {
	raw, rec, err := m.readVia(ctx, key, fetch)
	if err != nil {
		return err
	}
	now := m.now()
	if err := m.checkExpiry(ctx, key, rec, now); err != nil {
		return err
	}
	if m.needsRefresh(rec, now) {
		if raw, rec, err = m.refresh(ctx, h, raw, rec); err != nil {
			return err
		}
	}
	if now.Sub(rec.LastSeen) >= m.touch {
		rec = m.touchRecord(ctx, key, raw, rec, now)
	}
	m.fill(s, h, rec)
	return nil
}

// read gets and opens the record at key. The record may be shared with
// other requests (see recordCache), and so may raw (the in-memory store's
// own copy): modify neither.
func (m *Manager) read(ctx context.Context, key string) ([]byte, *record, error) {
	return m.readVia(ctx, key, nil)
}

// readVia is read, reading the sealed record with fetch (nil: the
// store's Get).
func (m *Manager) readVia(ctx context.Context, key string, fetch Fetch) ([]byte, *record, error) {
	var raw []byte
	var err error
	if fetch != nil {
		raw, err = fetch(ctx, key, m.decoded.subject(key))
	} else {
		raw, err = store.GetShared(ctx, m.st, key)
	}
	if errors.Is(err, store.ErrNotFound) {
		// Ended elsewhere (a logout on another replica): its decoded
		// tokens leave memory now, and its subject stops keying early
		// rate-limit charges for a cookie that opens nothing.
		m.decoded.forget(key)
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, unavailable("reading session", err)
	}
	rec, err := m.decode(raw, key)
	if err != nil {
		return nil, nil, err
	}
	return raw, rec, nil
}

// checkExpiry returns an expiredError if rec has timed out at now, and
// then removes it (best effort; the store TTL would anyway).
func (m *Manager) checkExpiry(ctx context.Context, key string, rec *record, now time.Time) error {
	var absolute bool
	switch {
	case !now.Before(rec.Expires):
		absolute = true
	case now.Sub(rec.LastSeen) >= m.idleOf(rec):
	default:
		return nil
	}
	m.decoded.forget(key)
	_ = m.atomic.Remove(ctx, key)
	return &expiredError{absolute: absolute}
}

// touchRecord slides the idle timeout: it writes rec with LastSeen = now,
// only if the stored record is still raw (so a touch never revives a
// deleted session or undoes a concurrent refresh), and returns the record
// written. Failures are ignored (it returns rec): the session stays valid
// until its current idle expiry, and the next request tries again. rec
// itself is never modified (it may be shared).
func (m *Manager) touchRecord(ctx context.Context, key string, raw []byte, rec *record, now time.Time) *record {
	next := *rec
	next.LastSeen = now
	ttl := m.ttl(&next, now)
	if ttl <= 0 {
		return rec
	}
	enc, err := m.encode(&next, key)
	if err != nil {
		return rec
	}
	if ok, err := m.atomic.Swap(ctx, key, raw, enc, ttl+expiryGrace); err == nil && ok {
		return &next
	}
	return rec
}
