package apikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/policy"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// CreateOptions describes a key to create.
type CreateOptions struct {
	// Subject the key acts for. Required.
	Subject string
	// Name is a human-readable label.
	Name string
	// Scopes granted to the key.
	Scopes []string
	// Expires is when the key stops working; zero means never. It must
	// be in the future.
	Expires time.Time
	// RateLimit is the key's own rate limit, "<count>/<period>" such as
	// "100/1m". Empty: none of its own.
	RateLimit string
	// Burst is how many requests the key may make at once above
	// RateLimit's pace (see ratelimit.Quota). Default: 0. Needs RateLimit.
	Burst int
	// MaxLifetime, when positive, refuses a key that never expires or
	// expires more than this after its creation (ErrLifetime).
	MaxLifetime time.Duration
}

// check validates o at now.
func (o CreateOptions) check(now time.Time) error {
	if o.Subject == "" {
		return errors.New("apikey: a subject is required")
	}
	for _, s := range o.Scopes {
		if err := policy.ValidateScope(s); err != nil {
			return fmt.Errorf("apikey: %w", err)
		}
	}
	if !o.Expires.IsZero() && !o.Expires.After(now) {
		return fmt.Errorf("apikey: expiry %s is not in the future", o.Expires.Format(time.RFC3339))
	}
	if err := (LifetimePolicy{MaxLifetime: o.MaxLifetime}).CheckExpiry(o.Expires, now); err != nil {
		return err
	}
	if _, err := OwnQuota(o.RateLimit, o.Burst); err != nil {
		return err
	}
	return nil
}

// Create makes a new key in the store and returns it with its record.
// The key, with its secret, exists only in the return value: the store
// holds its hash. Show it to its user once.
func (r *Registry) Create(ctx context.Context, o CreateOptions) (Key, Record, error) {
	if r.st == nil {
		return Key{}, Record{}, ErrNoStore
	}
	now := r.now()
	if err := o.check(now); err != nil {
		return Key{}, Record{}, err
	}
	s := storedRecord{
		Version: recordVersion, Subject: o.Subject, Name: o.Name, Scopes: slices.Clone(o.Scopes),
		RateLimit: o.RateLimit, Burst: o.Burst, Created: now, Expires: o.Expires,
	}
	k, err := r.insert(ctx, &s)
	if err != nil {
		return Key{}, Record{}, err
	}
	return k, s.record(), nil
}

// insert generates a key for s, writes s (SetNX, so an id is never
// reused) and adds it to the index; it fills s.ID and s.Hash.
func (r *Registry) insert(ctx context.Context, s *storedRecord) (Key, error) {
	for range 3 { // an id collision is astronomically unlikely; retry anyway
		k, err := Generate(r.prefix)
		if err != nil {
			return Key{}, err
		}
		if r.isStatic(k.ID) {
			continue
		}
		s.ID, s.Hash = k.ID, r.hasher.Hash(k.String())
		data, err := s.encode()
		if err != nil {
			return Key{}, err
		}
		ttl := s.ttl(r.now(), r.retention, r.idle)
		ok, err := r.st.SetNX(ctx, r.keys.record(k.ID), data, ttl)
		if err != nil {
			return Key{}, fmt.Errorf("apikey: writing key %s: %w", k.ID, err)
		}
		if !ok {
			continue
		}
		if err := r.idx.add(ctx, max(ttl, r.idle), k.ID); err != nil {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBudget)
			defer cancel()
			_ = r.st.Delete(uctx, r.keys.record(k.ID)) // an unlisted key must not work
			return Key{}, fmt.Errorf("apikey: key %s: %w", k.ID, err)
		}
		r.cache.forget(k.ID)
		return k, nil
	}
	return Key{}, errors.New("apikey: could not find a free key id")
}

// Show returns the stored record of id, read from the store (not the
// cache). An id without a record is ErrUnknown; a static id is ErrStatic.
func (r *Registry) Show(ctx context.Context, id string) (Record, error) {
	s, err := r.read(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return s.record(), nil
}

// Revoke marks key id revoked; it stops working on this instance at once
// and on every other within CacheTTL. Revoking a revoked key is not an
// error. The record is kept for Retention, then removed.
func (r *Registry) Revoke(ctx context.Context, id string) (Record, error) {
	s, err := r.update(ctx, id, func(s *storedRecord) error {
		if s.Revoked {
			return errNoChange
		}
		s.Revoked, s.RevokedAt = true, r.now()
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return Record{}, err
	}
	return s.record(), nil
}

// Rotate replaces key id with a new key of the same subject, name,
// scopes, rate limit and expiry, and returns the new key. The old key
// keeps working for grace (zero: stops at once, everywhere within
// CacheTTL), then is refused with ErrRotated. A revoked, expired or
// already rotated key cannot be rotated.
func (r *Registry) Rotate(ctx context.Context, id string, grace time.Duration) (Key, Record, error) {
	if grace < 0 {
		return Key{}, Record{}, errors.New("apikey: rotation grace must not be negative")
	}
	if err := r.checkID(id); err != nil {
		return Key{}, Record{}, err
	}
	var (
		newKey Key
		newRec storedRecord
	)
	key := r.keys.record(id)
	err := withLock(ctx, r.st, key, func() error {
		old, err := r.get(ctx, id)
		if err != nil {
			return err
		}
		now := r.now()
		switch {
		case old.ReplacedBy != "":
			return fmt.Errorf("apikey: key %s was already rotated (replaced by %s)", id, old.ReplacedBy)
		case old.Revoked:
			return fmt.Errorf("apikey: key %s: %w", id, ErrRevoked)
		case !old.Expires.IsZero() && !now.Before(old.Expires):
			return fmt.Errorf("apikey: key %s: %w", id, ErrExpired)
		}
		newRec = storedRecord{
			Version: recordVersion, Subject: old.Subject, Name: old.Name, Scopes: old.Scopes,
			RateLimit: old.RateLimit, Burst: old.Burst, Created: now, Expires: old.Expires,
		}
		if newKey, err = r.insert(ctx, &newRec); err != nil {
			return err
		}
		old.ReplacedBy, old.GraceUntil = newRec.ID, now.Add(grace)
		if err := r.put(ctx, old); err != nil {
			_, _ = r.Revoke(context.WithoutCancel(ctx), newRec.ID) // the old key was not retired
			return err
		}
		return nil
	})
	r.cache.forget(id)
	if err != nil {
		return Key{}, Record{}, err
	}
	return newKey, newRec.record(), nil
}

// update applies fn to the record of id under its lock and writes it
// back with a renewed TTL; fn returning errNoChange skips the write (and
// update returns the record with errNoChange).
func (r *Registry) update(ctx context.Context, id string, fn func(*storedRecord) error) (storedRecord, error) {
	if err := r.checkID(id); err != nil {
		return storedRecord{}, err
	}
	var out storedRecord
	err := withLock(ctx, r.st, r.keys.record(id), func() error {
		s, err := r.get(ctx, id)
		if err != nil {
			return err
		}
		out = s
		if err := fn(&s); err != nil {
			return err
		}
		if err := r.put(ctx, s); err != nil {
			return err
		}
		out = s
		return nil
	})
	r.cache.forget(id)
	return out, err
}

// checkID refuses ids that are malformed, static, or a registry without
// a store.
func (r *Registry) checkID(id string) error {
	if r.st == nil {
		return ErrNoStore
	}
	if err := ValidateID(id); err != nil {
		return err
	}
	if r.isStatic(id) {
		return fmt.Errorf("key %s: %w", id, ErrStatic)
	}
	return nil
}

// read is get after checkID.
func (r *Registry) read(ctx context.Context, id string) (storedRecord, error) {
	if err := r.checkID(id); err != nil {
		return storedRecord{}, err
	}
	return r.get(ctx, id)
}

// get reads and decodes the record of id.
func (r *Registry) get(ctx context.Context, id string) (storedRecord, error) {
	data, err := r.st.Get(ctx, r.keys.record(id))
	if errors.Is(err, store.ErrNotFound) {
		return storedRecord{}, fmt.Errorf("apikey: no stored key %s: %w", id, ErrUnknown)
	}
	if err != nil {
		return storedRecord{}, fmt.Errorf("apikey: reading key %s: %w", id, err)
	}
	return decodeRecord(id, data)
}

// put writes s with the TTL its state calls for.
func (r *Registry) put(ctx context.Context, s storedRecord) error {
	data, err := s.encode()
	if err != nil {
		return err
	}
	if err := r.st.Set(ctx, r.keys.record(s.ID), data, s.ttl(r.now(), r.retention, r.idle)); err != nil {
		return fmt.Errorf("apikey: writing key %s: %w", s.ID, err)
	}
	return nil
}
