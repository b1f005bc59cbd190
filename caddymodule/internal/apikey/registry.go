package apikey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

var (
	// ErrUnavailable means the store could not be read, so a key that is
	// not declared in the configuration could not be checked. The
	// adapter answers 503; the failure is not held against the client.
	ErrUnavailable = errors.New("apikey: key store unavailable")
	// ErrRotated means the key was replaced by rotation and its grace
	// period is over. It matches ErrRevoked too (errors.Is).
	ErrRotated = fmt.Errorf("%w: replaced by rotation, grace period over", ErrRevoked)
	// ErrStatic is returned by the lifecycle methods for a key declared
	// in the configuration, which only the configuration can change.
	ErrStatic = errors.New("apikey: key is declared in the configuration; change it there")
	// ErrNoStore is returned by the lifecycle methods of a registry
	// without a store.
	ErrNoStore = errors.New("apikey: no key store configured")
)

// Defaults and bounds of RegistryOptions.
const (
	// MaxCacheTTL bounds how long a replica may use a store record it
	// read, so a revocation or rotation reaches every replica within it.
	MaxCacheTTL = time.Second
	// DefaultCacheSize bounds the records, and the unknown ids, cached.
	DefaultCacheSize = 10000
	// DefaultFlushInterval is how often last-used times are written.
	DefaultFlushInterval = 30 * time.Second
	// flushTimeout bounds one background or final flush.
	flushTimeout = 10 * time.Second
)

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// Static holds the keys declared in the configuration; they are
	// checked first and never read from the store. May be nil.
	Static *Set
	// Store holds keys created with Create. nil: static keys only (the
	// lifecycle methods return ErrNoStore). The Registry does not close it.
	Store store.Store
	// Hasher hashes keys; it MUST use the same pepper as Static.
	Hasher Hasher
	// Prefix of keys. Default: Static's prefix, else DefaultPrefix.
	Prefix string
	// StorePrefix prefixes store keys. Default: DefaultStorePrefix.
	StorePrefix string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// CacheTTL is how long a store record read is reused, at most
	// MaxCacheTTL (1s). Default: 1s.
	CacheTTL time.Duration
	// NegativeTTL is how long "no such id" is reused, at most
	// MaxCacheTTL, so a key created on another replica works within it.
	// Default: 1s.
	NegativeTTL time.Duration
	// CacheSize bounds the records cached, separately the unknown ids
	// cached, and separately the keys remembered as verified (see
	// verifiedCache). Default: 10000.
	CacheSize int
	// FlushInterval is how often last-used times are written to the
	// store: each key is written at most once per interval, whatever its
	// traffic. Default: 30s; negative: only by Flush and Close.
	FlushInterval time.Duration
	// Retention is how long a record is kept after its key stopped
	// working. Default: DefaultRetention (7 days).
	Retention time.Duration
	// IdleTTL is the TTL of a record of a key that never expires,
	// renewed by every write. Default: DefaultIdleTTL (400 days).
	IdleTTL time.Duration
	// OnFlushError, if set, is called with the error of a background
	// flush of last-used times (the adapter logs it; the times are kept
	// for the next flush). The error holds no key or secret.
	OnFlushError func(error)
}

// Registry verifies API keys against the static set from the
// configuration and the keys created in the store, and manages the
// latter (Create, List, Show, Revoke, Rotate). A store record is read
// once per id and CacheTTL on each instance; last-used times are batched
// in memory and written every FlushInterval. Call Close when done. It is
// safe for concurrent use.
type Registry struct {
	static       *Set
	st           store.Store
	idx          index
	hasher       Hasher
	prefix       string
	keys         keys
	now          func() time.Time
	retention    time.Duration
	idle         time.Duration
	cache        *recordCache
	verified     *verifiedCache
	decoy        Digest
	usage        *usage
	onFlushError func(error)

	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewRegistry checks opts and returns a Registry. It does no I/O; with a
// store and a non-negative FlushInterval it starts the flush loop.
func NewRegistry(opts RegistryOptions) (*Registry, error) {
	r := &Registry{static: opts.Static, st: opts.Store, hasher: opts.Hasher, prefix: opts.Prefix, now: opts.Now, onFlushError: opts.OnFlushError}
	if r.now == nil {
		r.now = time.Now
	}
	if r.prefix == "" {
		r.prefix = DefaultPrefix
		if r.static != nil {
			r.prefix = r.static.Prefix()
		}
	}
	if err := ValidatePrefix(r.prefix); err != nil {
		return nil, err
	}
	if r.static != nil {
		if r.static.Prefix() != r.prefix {
			return nil, fmt.Errorf("apikey: registry prefix %q differs from the static set's %q", r.prefix, r.static.Prefix())
		}
		if !bytes.Equal(r.static.hasher.pepper, r.hasher.pepper) {
			return nil, errors.New("apikey: registry and static set use different peppers")
		}
	}
	storePrefix := opts.StorePrefix
	if storePrefix == "" {
		storePrefix = DefaultStorePrefix
	}
	if err := store.ValidatePrefix(storePrefix); err != nil {
		return nil, fmt.Errorf("apikey: %w", err)
	}
	r.keys = keys{prefix: storePrefix}
	if opts.CacheTTL < 0 || opts.CacheTTL > MaxCacheTTL || opts.NegativeTTL < 0 || opts.NegativeTTL > MaxCacheTTL {
		return nil, fmt.Errorf("apikey: cache TTLs must be between 0 and %v", MaxCacheTTL)
	}
	if opts.CacheSize < 0 || opts.Retention < 0 || opts.IdleTTL < 0 {
		return nil, errors.New("apikey: cache size, retention and idle TTL must not be negative")
	}
	r.retention = orDefaultDuration(opts.Retention, DefaultRetention)
	r.idle = orDefaultDuration(opts.IdleTTL, DefaultIdleTTL)
	decoy, err := r.hasher.ParseDigest(r.hasher.Hash("decoy"))
	if err != nil {
		return nil, fmt.Errorf("apikey: making decoy digest: %w", err)
	}
	r.decoy = decoy
	r.cache = newRecordCache(orDefaultInt(opts.CacheSize, DefaultCacheSize),
		orDefaultDuration(opts.CacheTTL, MaxCacheTTL), orDefaultDuration(opts.NegativeTTL, MaxCacheTTL), r.now, r.fetch)
	r.verified = newVerifiedCache(orDefaultInt(opts.CacheSize, DefaultCacheSize))
	r.usage = newUsage()
	if r.st != nil {
		r.idx = newIndex(r.st, r.keys.index(), r.now)
		if interval := orDefaultDuration(opts.FlushInterval, DefaultFlushInterval); interval > 0 {
			r.stop, r.loopDone = make(chan struct{}), make(chan struct{})
			go r.flushLoop(interval)
		}
	}
	return r, nil
}

// Prefix returns the key prefix the registry accepts.
func (r *Registry) Prefix() string { return r.prefix }

// Verify checks key and returns its record: a static key first, then a
// stored one (one store read per id and CacheTTL). The secret is
// compared in constant time, and an unknown id costs a comparison too.
// Errors (test with errors.Is, never containing the key): ErrMalformed,
// ErrUnknown, ErrExpired, ErrRevoked (ErrRotated after a rotation's
// grace), and ErrUnavailable when the store cannot be read. A key that
// verified before skips parsing and the hash (see verifiedCache), never
// the record and its checks. Counting failed checks per client
// (internal/lockout) is the caller's: malformed and unknown keys are
// what guessing produces.
func (r *Registry) Verify(ctx context.Context, key string) (Record, error) {
	return r.verify(ctx, key)
}

func (r *Registry) verify(ctx context.Context, key string) (Record, error) {
	h := r.verified.index(key)
	if v := r.verified.get(h, key); v != nil {
		rec, err := r.verifyCached(ctx, v)
		if !errors.Is(err, errStale) {
			return rec, err
		}
		r.verified.drop(h, key)
	}
	k, err := Parse(r.prefix, key)
	if err != nil {
		return Record{}, err
	}
	if r.isStatic(k.ID) {
		e, err := r.static.match(k.ID, key)
		if err != nil {
			return Record{}, err
		}
		rec, err := r.static.status(e)
		if err == nil {
			r.remember(h, key, &verifiedKey{static: e})
		}
		return rec, err
	}
	if r.st == nil {
		r.hasher.Matches(r.decoy, key)
		return Record{}, ErrUnknown
	}
	l, err := r.cache.get(ctx, k.ID)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	digest := l.digest
	if !l.found || l.bad != nil {
		digest = r.decoy
	}
	if !r.hasher.Matches(digest, key) || !l.found {
		return Record{}, ErrUnknown
	}
	if l.bad != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrUnknown, l.bad)
	}
	now := r.now()
	if err := l.rec.check(now); err != nil {
		return Record{}, err
	}
	r.usage.note(k.ID, now)
	r.remember(h, key, &verifiedKey{digest: l.digest})
	return l.rec, nil
}

// errStale tells verify that a key from the verified-key cache no
// longer matches its record, so it verifies the key in full.
var errStale = errors.New("apikey: verified key no longer matches its record")

// verifyCached is verify of a key found in the verified-key cache: the
// hash is skipped, nothing else. A static key's record is the set's
// entry it matched (a set never changes). A stored key's record is read
// as on a miss, from the record cache with its refresh policy, and must
// still hold the digest the key matched, else errStale (no such record
// any more, an unusable one, or another hash).
func (r *Registry) verifyCached(ctx context.Context, v *verifiedKey) (Record, error) {
	if v.static != nil {
		return r.static.status(v.static)
	}
	l, err := r.cache.get(ctx, v.id)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !l.found || l.bad != nil || !sameDigest(&l.digest, &v.digest) {
		return Record{}, errStale
	}
	now := r.now()
	if err := l.rec.check(now); err != nil {
		return Record{}, err
	}
	r.usage.note(v.id, now)
	return l.rec, nil
}

// remember puts v, the outcome of verifying key, in the verified-key
// cache, with a copy of key (and the id within that copy), so the cache
// does not keep the request's header alive.
func (r *Registry) remember(h uint64, key string, v *verifiedKey) {
	v.key = strings.Clone(key)
	at := len(r.prefix) + 1 // the id follows "<prefix>_" (Parse checked the shape)
	v.id = v.key[at : at+IDLength]
	r.verified.put(h, v)
}

// isStatic reports whether id belongs to a key of the configuration.
func (r *Registry) isStatic(id string) bool {
	if r.static == nil {
		return false
	}
	_, ok := r.static.entries[id]
	return ok
}

// fetch reads the record of id for the cache.
func (r *Registry) fetch(ctx context.Context, id string) (*lookup, error) {
	data, err := r.st.Get(ctx, r.keys.record(id))
	if errors.Is(err, store.ErrNotFound) {
		return &lookup{}, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := decodeRecord(id, data)
	if err != nil {
		return &lookup{found: true, bad: err}, nil
	}
	l := &lookup{found: true, rec: s.record()}
	if l.digest, err = r.hasher.ParseDigest(s.Hash); err != nil {
		l.bad = fmt.Errorf("key %s: %w", id, err)
	}
	return l, nil
}

// Close stops the flush loop and writes the pending last-used times. It
// does not close the store. Later calls return the first call's result.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		if r.stop != nil {
			close(r.stop)
			<-r.loopDone
		}
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		r.closeErr = r.Flush(ctx)
	})
	return r.closeErr
}

// orDefaultInt returns v, or d when v is zero.
func orDefaultInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// orDefaultDuration returns v, or d when v is zero.
func orDefaultDuration(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
