// Package vault keeps users' tokens for third-party ("upstream") OAuth
// providers, so the gateway can call those providers' APIs on a user's
// behalf: one connection per user (a principal's namespaced subject) and
// provider, holding the access token, refresh token, expiry and scopes.
//
// Records are sealed with AES-256-GCM under keys derived (HKDF-SHA256)
// from the configured secrets, the session keys: the first key seals,
// every key opens, so keys rotate as session keys do. The additional
// authenticated data is the record's store key, which names the user and
// the provider: a record copied to another user's or provider's key
// does not open. The store holds only ciphertext; store keys hold a hash
// of the subject, never the subject.
//
// Token returns a connection's access token, refreshing it when it has
// expired or is about to: one replica refreshes (a lock in the store,
// SET NX PX with a random token, released by compare-and-delete), the
// others wait briefly and re-read. A refresh the provider refuses
// (invalid_grant) marks the connection as needing a reconnect. A
// rotated refresh token replaces the old one; a provider that does not
// rotate keeps the old one.
//
// The package is plain Go (no Caddy, no zap). Errors start with
// "vault: " and never contain a token.
package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Defaults of Config.
const (
	DefaultKeyPrefix   = "pcl"
	DefaultRetention   = 90 * 24 * time.Hour
	DefaultRefreshSkew = 30 * time.Second
	DefaultLockTTL     = 10 * time.Second
	DefaultRefreshWait = 5 * time.Second
	DefaultFlowTTL     = 10 * time.Minute
)

// Errors callers branch on (test with errors.Is).
var (
	// ErrNotConnected means the user has not connected the provider (or
	// the record no longer opens: tampered with, or sealed under a key no
	// longer configured).
	ErrNotConnected = errors.New("vault: not connected")
	// ErrReconnect means the connection exists but cannot give a token:
	// the provider refused its refresh token (invalid_grant), or the
	// access token expired and there is no refresh token. The user must
	// connect again.
	ErrReconnect = errors.New("vault: connection needs to be renewed")
	// ErrUnavailable means the store or the provider cannot be used now;
	// try again later.
	ErrUnavailable = errors.New("vault: unavailable")
	// ErrInvalidGrant is what a Refresher returns (wrapped) when the
	// provider refused the refresh token (RFC 6749 §5.2 invalid_grant).
	// Any other Refresher error is read as transient.
	ErrInvalidGrant = errors.New("vault: the provider refused the grant")
	// ErrFlowNotFound means a connect flow's state is unknown, expired or
	// already used.
	ErrFlowNotFound = errors.New("vault: unknown or expired connect flow")
)

// Config configures a Vault.
type Config struct {
	// Store holds the records. Required.
	Store store.Store
	// Locker serializes refreshes and removals across replicas.
	// Default: LockerFor(Store).
	Locker Locker
	// Keys seal records: at least one, each MinKeyBytes or longer; the
	// first seals, all open. Required.
	Keys [][]byte
	// KeyPrefix prefixes store keys. Default: DefaultKeyPrefix.
	KeyPrefix string
	// Now is the clock that token expiry is judged by. Default: time.Now.
	Now func() time.Time
	// Retention is how long a connection is kept after it was last
	// written (connected or refreshed). Default: DefaultRetention.
	Retention time.Duration
	// RefreshSkew: an access token is refreshed this long before it
	// expires (at least a fifth, at most half of its lifetime).
	// Default: DefaultRefreshSkew.
	RefreshSkew time.Duration
	// LockTTL bounds how long a crashed refresher blocks the others, and
	// the refresh call itself. Default: DefaultLockTTL.
	LockTTL time.Duration
	// RefreshWait is how long a request waits for another replica's
	// refresh of an expired token. Default: DefaultRefreshWait.
	RefreshWait time.Duration
	// FlowTTL is how long a started connect flow may take. Default:
	// DefaultFlowTTL.
	FlowTTL time.Duration
	// OnRefresh, when set, is called after every refresh attempt this
	// replica makes, with the user, the provider's name and the
	// attempt's error (nil on success), for audit and metrics.
	OnRefresh func(subject, provider string, err error)
}

// Vault stores connections. It is safe for concurrent use.
type Vault struct {
	st        store.Store
	locker    Locker
	sealer    *sealer
	prefix    string
	now       func() time.Time
	retention time.Duration
	skew      time.Duration
	lockTTL   time.Duration
	wait      time.Duration
	flowTTL   time.Duration
	onRefresh func(string, string, error)
}

// New returns a Vault. It does no I/O.
func New(cfg Config) (*Vault, error) {
	if cfg.Store == nil {
		return nil, errors.New("vault: no store")
	}
	s, err := newSealer(cfg.Keys)
	if err != nil {
		return nil, err
	}
	v := &Vault{
		st: cfg.Store, locker: cfg.Locker, sealer: s, prefix: cfg.KeyPrefix, now: cfg.Now,
		retention: cfg.Retention, skew: cfg.RefreshSkew, lockTTL: cfg.LockTTL, wait: cfg.RefreshWait,
		flowTTL: cfg.FlowTTL, onRefresh: cfg.OnRefresh,
	}
	if v.locker == nil {
		v.locker = LockerFor(cfg.Store)
	}
	if v.prefix == "" {
		v.prefix = DefaultKeyPrefix
	}
	if err := store.ValidatePrefix(v.prefix); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, d := range []struct {
		dst *time.Duration
		def time.Duration
	}{{&v.retention, DefaultRetention}, {&v.skew, DefaultRefreshSkew}, {&v.lockTTL, DefaultLockTTL}, {&v.wait, DefaultRefreshWait}, {&v.flowTTL, DefaultFlowTTL}} {
		if *d.dst <= 0 {
			*d.dst = d.def
		}
	}
	return v, nil
}

// Connection is one user's tokens at one provider.
type Connection struct {
	// Subject is the user (the principal's namespaced subject).
	Subject string `json:"sub"`
	// Provider is the upstream provider's configured name.
	Provider string `json:"prov"`
	// AccessToken is sent upstream. Secret.
	AccessToken string `json:"at"`
	// RefreshToken renews AccessToken; empty when the provider gave none.
	// Secret.
	RefreshToken string `json:"rt,omitempty"`
	// TokenType is the provider's token_type ("Bearer").
	TokenType string `json:"tt,omitempty"`
	// Expiry is when AccessToken expires; zero when the provider did not
	// say (it is then used until refused).
	Expiry time.Time `json:"exp,omitzero"`
	// Obtained is when AccessToken was issued (by our clock).
	Obtained time.Time `json:"obt,omitzero"`
	// Scopes the provider granted.
	Scopes []string `json:"scp,omitempty"`
	// Connected is when the user connected the provider.
	Connected time.Time `json:"con"`
	// NeedsReconnect is set when the provider refused the refresh token.
	NeedsReconnect bool `json:"rec,omitempty"`
}

// Status is what a user may see of a connection: never a token.
type Status struct {
	// Provider is the provider's name.
	Provider string
	// Scopes granted.
	Scopes []string
	// Connected is when the user connected.
	Connected time.Time
	// Expiry of the current access token (zero: unknown).
	Expiry time.Time
	// NeedsReconnect is set when the connection can no longer give tokens.
	NeedsReconnect bool
}

// Status returns what a user may see of c.
func (c *Connection) Status() Status {
	return Status{Provider: c.Provider, Scopes: c.Scopes, Connected: c.Connected, Expiry: c.Expiry, NeedsReconnect: c.NeedsReconnect}
}

// record is the sealed form of a Connection.
type record struct {
	Version int `json:"v"`
	Connection
}

const recordVersion = 1

// Store key kinds (inside the hash tag).
const (
	kindConnection = "v"  // a connection, by subject hash and provider
	kindFlow       = "vf" // a pending connect flow, by state hash
)

// lockSuffix follows a connection key's hash tag for its lock, so the
// record and its lock share a Redis Cluster slot.
const lockSuffix = ":lock"

// hashString returns base64url(SHA-256(domain NUL s)), for store keys that
// must not reveal what they index.
func hashString(domain, s string) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Key returns the store key of subject's connection to provider. It is
// exported for tests that read the raw store.
func (v *Vault) Key(subject, provider string) string {
	return store.Key(v.prefix, kindConnection, hashString("vault subject", subject)+":"+provider)
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// encode seals c for its store key.
func (v *Vault) encode(c *Connection, key string) ([]byte, error) {
	pt, err := json.Marshal(record{Version: recordVersion, Connection: *c})
	if err != nil {
		return nil, fmt.Errorf("vault: encoding record: %w", err)
	}
	return v.sealer.seal(pt, key), nil
}

// decode opens the record read from key, for subject and provider. A
// record that does not open, does not parse or names someone else is
// treated as absent.
func (v *Vault) decode(raw []byte, key, subject, provider string) (*Connection, error) {
	pt, err := v.sealer.open(raw, key)
	if err != nil {
		return nil, fmt.Errorf("%w (record does not decrypt)", ErrNotConnected)
	}
	var rec record
	if err := json.Unmarshal(pt, &rec); err != nil || rec.Version != recordVersion || rec.Subject != subject || rec.Provider != provider {
		return nil, fmt.Errorf("%w (record is malformed)", ErrNotConnected)
	}
	return &rec.Connection, nil
}

// unavailable wraps a store failure.
func unavailable(doing string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, doing, err)
}

// Get returns subject's connection to provider (ErrNotConnected if none).
func (v *Vault) Get(ctx context.Context, subject, provider string) (*Connection, error) {
	key := v.Key(subject, provider)
	raw, err := v.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotConnected
	}
	if err != nil {
		return nil, unavailable("reading connection", err)
	}
	return v.decode(raw, key, subject, provider)
}

// Put stores c (replacing any connection of the same subject and
// provider) for Retention.
func (v *Vault) Put(ctx context.Context, c *Connection) error {
	if c.Subject == "" || c.Provider == "" || c.AccessToken == "" {
		return errors.New("vault: a connection needs a subject, a provider and an access token")
	}
	key := v.Key(c.Subject, c.Provider)
	enc, err := v.encode(c, key)
	if err != nil {
		return err
	}
	if err := v.st.Set(ctx, key, enc, v.retention); err != nil {
		return unavailable("storing connection", err)
	}
	return nil
}

// List returns the statuses of subject's connections among providers, in
// that order; providers without one are left out.
func (v *Vault) List(ctx context.Context, subject string, providers []string) ([]Status, error) {
	var out []Status
	for _, p := range providers {
		c, err := v.Get(ctx, subject, p)
		if errors.Is(err, ErrNotConnected) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c.Status())
	}
	return out, nil
}

// Remove deletes subject's connection to provider and returns it (for
// revocation at the provider); nil when there was none. It waits (up to
// RefreshWait) for a refresh in progress, so a refresh cannot bring the
// connection back.
func (v *Vault) Remove(ctx context.Context, subject, provider string) (*Connection, error) {
	key := v.Key(subject, provider)
	lock, token := key+lockSuffix, randomToken()
	wctx, cancel := context.WithTimeout(ctx, v.wait)
	defer cancel()
	for {
		ok, err := v.locker.Acquire(wctx, lock, token, v.lockTTL)
		if err != nil {
			return nil, unavailable("removing connection", err)
		}
		if ok {
			break
		}
		if err := pause(wctx); err != nil {
			return nil, unavailable("waiting for a refresh to end", err)
		}
	}
	defer func() { _ = v.locker.Release(context.WithoutCancel(ctx), lock, token) }()
	c, err := v.Get(ctx, subject, provider)
	if errors.Is(err, ErrNotConnected) {
		c, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := v.st.Delete(ctx, key); err != nil {
		return nil, unavailable("removing connection", err)
	}
	return c, nil
}

// pollInterval is how often a waiting request re-reads the store.
const pollInterval = 20 * time.Millisecond

// pause waits pollInterval, or until ctx is done.
func pause(ctx context.Context) error {
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
