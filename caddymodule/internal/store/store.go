// Package store is the shared-state store behind sessions, API keys and rate
// limits: a small key/value interface with mandatory expiry, implemented in
// memory (Memory, for a single instance) and on Redis (Redis, standalone,
// Sentinel or Cluster, for several gateway instances sharing state).
//
// The package is plain Go: it does not depend on Caddy or zap, so it can be
// tested and reused on its own. Errors it returns start with "store: ".
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (possibly wrapped; test with errors.Is) by Get and
// GetDel when the key does not exist or has expired.
var ErrNotFound = errors.New("store: not found")

// ErrInvalidTTL is returned (wrapped) when a ttl is zero or negative: every
// record must expire.
var ErrInvalidTTL = errors.New("store: ttl must be positive")

// ErrClosed is returned (wrapped) by operations on a closed store.
var ErrClosed = errors.New("store: closed")

// Store is a key/value store in which every record expires.
//
// Keys are arbitrary strings; build them with Key so that Redis Cluster
// places related keys in one slot. Values are arbitrary bytes (binary-safe);
// implementations copy them, so callers may reuse slices after a call
// returns and may modify slices a call returned. TTLs have millisecond
// resolution on Redis (sub-millisecond TTLs are rounded up to 1 ms).
//
// Every method honours ctx: an implementation gives up when ctx is done and
// returns an error wrapping ctx.Err() or a timeout. Errors other than the
// sentinels are backend failures (the record may or may not have been
// written) and never contain credentials. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the value of key, or an error wrapping ErrNotFound if it
	// does not exist or has expired.
	Get(ctx context.Context, key string) ([]byte, error)

	// Set stores value under key, replacing any previous value and expiry,
	// to expire after ttl. A ttl <= 0 is refused with ErrInvalidTTL.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error

	// SetNX stores value under key with expiry ttl only if key does not exist
	// (or has expired), and reports whether it did. A ttl <= 0 is refused
	// with ErrInvalidTTL. It is atomic: of concurrent callers on one key, at
	// most one gets true.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)

	// GetDel atomically returns the value of key and deletes it, for
	// single-use records such as OAuth state: of concurrent callers on one
	// key, exactly one gets the value and the others get ErrNotFound.
	GetDel(ctx context.Context, key string) ([]byte, error)

	// Delete removes the given keys; missing keys are ignored, and no keys is
	// a no-op. Keys may belong to different Redis Cluster slots; deleting
	// several keys is not atomic.
	Delete(ctx context.Context, keys ...string) error

	// Expire sets the expiry of an existing key to ttl from now and reports
	// whether the key existed (false for a missing or expired key). A
	// ttl <= 0 is refused with ErrInvalidTTL.
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// Ping checks that the store is usable (for Redis: that the server, or
	// every cluster master, answers).
	Ping(ctx context.Context) error

	// Close releases the store's resources. Later operations fail with
	// ErrClosed; calling Close again does nothing and returns nil.
	Close() error
}

// checkTTL returns an error wrapping ErrInvalidTTL if ttl is not positive.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("store: %s: %w (got %v)", op, ErrInvalidTTL, ttl)
	}
	return nil
}
