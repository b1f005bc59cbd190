package apikey

import (
	"errors"
	"fmt"
	"time"
)

// Verification failures. Callers branch on them with errors.Is; their
// text is safe to log and never contains the key.
var (
	// ErrUnknown means the key is well formed but no record matches
	// (no such id, or the secret is wrong).
	ErrUnknown = errors.New("apikey: unknown key")
	// ErrExpired means the key matched a record whose expiry has passed.
	ErrExpired = errors.New("apikey: key expired")
	// ErrRevoked means the key matched a revoked record.
	ErrRevoked = errors.New("apikey: key revoked")
)

// Record describes one issued key. It never holds the key itself.
type Record struct {
	// ID is the key id, the middle part of the key.
	ID string
	// Hash is the stored hash of the full key ("<alg>:<digest>").
	Hash string
	// Subject is the owner the key acts for; it becomes the principal's subject.
	Subject string
	// Name is a human-readable label for the key.
	Name string
	// Scopes are the scopes granted to the key.
	Scopes []string
	// Expires is when the key stops working; zero means never.
	Expires time.Time
	// Revoked marks a key that must no longer be accepted.
	Revoked bool
	// RateLimit is the key's own rate limit ("100/1m"), applied on
	// every route that accepts the key, besides the route's zones;
	// empty means the route's limits only.
	RateLimit string
	// RateBurst is the burst of RateLimit (see ratelimit.Quota).
	RateBurst int
	// Created is when the key was created; zero for keys declared in the
	// configuration.
	Created time.Time
	// LastUsed is when the key was last accepted, as flushed to the
	// store (it lags by up to the registry's flush interval); zero if
	// never, and always zero for keys declared in the configuration.
	LastUsed time.Time
	// ReplacedBy is the id of the key that replaced this one by
	// rotation; empty if it was not rotated.
	ReplacedBy string
	// GraceUntil is, for a rotated key, when it stops being accepted.
	GraceUntil time.Time
}

type entry struct {
	rec    Record
	digest Digest
}

// Set verifies keys against a fixed set of records, such as those
// declared in the configuration. It is safe for concurrent use.
type Set struct {
	prefix  string
	hasher  Hasher
	entries map[string]*entry
	// decoy is compared against when the id is unknown, so an unknown
	// id costs the same time as a wrong secret.
	decoy Digest
	now   func() time.Time
}

// NewSet checks the records (well-formed ids and hashes, no duplicate
// ids, a subject on each) and indexes them by id. now may be nil for
// time.Now.
func NewSet(prefix string, h Hasher, records []Record, now func() time.Time) (*Set, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	s := &Set{prefix: prefix, hasher: h, entries: make(map[string]*entry, len(records)), now: now}
	for i, r := range records {
		if err := ValidateID(r.ID); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if _, dup := s.entries[r.ID]; dup {
			return nil, fmt.Errorf("apikey: duplicate key id %q", r.ID)
		}
		if r.Subject == "" {
			return nil, fmt.Errorf("apikey: key %q has no subject", r.ID)
		}
		d, err := h.ParseDigest(r.Hash)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", r.ID, err)
		}
		s.entries[r.ID] = &entry{rec: r, digest: d}
	}
	decoy, err := h.ParseDigest(h.Hash("decoy"))
	if err != nil {
		return nil, fmt.Errorf("apikey: making decoy digest: %w", err)
	}
	s.decoy = decoy
	return s, nil
}

// Prefix returns the key prefix this set accepts.
func (s *Set) Prefix() string { return s.prefix }

// Len returns the number of records.
func (s *Set) Len() int { return len(s.entries) }

// Verify checks key and returns its record. The secret is compared in
// constant time, and an unknown id costs a hash comparison too.
func (s *Set) Verify(key string) (Record, error) {
	k, err := Parse(s.prefix, key)
	if err != nil {
		return Record{}, err
	}
	e, err := s.match(k.ID, key)
	if err != nil {
		return Record{}, err
	}
	return s.status(e)
}

// match returns the entry of id, a well-formed key's, if key matches its
// hash; else ErrUnknown, after the decoy's hash when the id is unknown.
func (s *Set) match(id, key string) (*entry, error) {
	e, found := s.entries[id]
	digest := &s.decoy
	if found {
		digest = &e.digest
	}
	if !s.hasher.Matches(*digest, key) || !found {
		return nil, ErrUnknown
	}
	return e, nil
}

// status returns the record of e, whose hash a key matched, or why the
// key no longer works.
func (s *Set) status(e *entry) (Record, error) {
	if e.rec.Revoked {
		return Record{}, ErrRevoked
	}
	if !e.rec.Expires.IsZero() && !s.now().Before(e.rec.Expires) {
		return Record{}, ErrExpired
	}
	return e.rec, nil
}
