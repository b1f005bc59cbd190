package apikey

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Store data model. Every record lives under its own hash tag, so Redis
// Cluster spreads keys over the slots and no operation touches two slots:
//
//	<prefix>:{k:<id>}        JSON storedRecord; TTL: see storedRecord.ttl
//	<prefix>:{k:<id>}:lock   short lock around read-modify-write (lockTTL)
//	<prefix>:{kidx:all}      index of ids: a Redis SET, or a JSON
//	                         storedIndex on other stores; TTL extended,
//	                         never shortened, to outlive every record
//	<prefix>:{kidx:all}:lock lock of the JSON index
const (
	kindKey   = "k"
	kindIndex = "kidx"
	indexID   = "all"
	// recordVersion is written in every record; a record of another
	// version is refused rather than misread.
	recordVersion = 1
)

// Defaults of RegistryOptions.
const (
	// DefaultStorePrefix prefixes store keys (`pcl:{k:<id>}`).
	DefaultStorePrefix = "pcl"
	// DefaultRetention is how long a record is kept after the key stops
	// working (expiry, revocation, end of a rotation grace), so `show`
	// and `list` can still say why it stopped.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultIdleTTL is the TTL of a record without an end (a key that
	// never expires). Every write renews it, including the last-used
	// flush, so only a key unused and untouched for this long disappears.
	DefaultIdleTTL = 400 * 24 * time.Hour
	// minRecordTTL keeps a record that has just stopped working visible
	// for a moment even with a tiny retention.
	minRecordTTL = time.Minute
)

// storedRecord is the JSON form of a key created through a Registry. It
// holds the key's hash, never the key.
type storedRecord struct {
	Version    int       `json:"v"`
	ID         string    `json:"id"`
	Hash       string    `json:"hash"`
	Subject    string    `json:"sub"`
	Name       string    `json:"name,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	RateLimit  string    `json:"rate_limit,omitempty"`
	Burst      int       `json:"burst,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	LastUsed   time.Time `json:"last_used,omitzero"`
	Revoked    bool      `json:"revoked,omitempty"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
	GraceUntil time.Time `json:"grace_until,omitzero"`
}

// decodeRecord parses and checks a stored record read under id.
func decodeRecord(id string, data []byte) (storedRecord, error) {
	var s storedRecord
	if err := json.Unmarshal(data, &s); err != nil {
		return storedRecord{}, fmt.Errorf("apikey: key %s: decoding stored record: %w", id, err)
	}
	if s.Version != recordVersion {
		return storedRecord{}, fmt.Errorf("apikey: key %s: stored record has version %d, want %d", id, s.Version, recordVersion)
	}
	if s.ID != id || s.Subject == "" || s.Hash == "" {
		return storedRecord{}, fmt.Errorf("apikey: key %s: stored record is incomplete or under the wrong id", id)
	}
	return s, nil
}

// encode returns the JSON form of s.
func (s storedRecord) encode() ([]byte, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("apikey: key %s: encoding record: %w", s.ID, err)
	}
	return data, nil
}

// record returns the Record callers see.
func (s storedRecord) record() Record {
	return Record{
		ID: s.ID, Hash: s.Hash, Subject: s.Subject, Name: s.Name, Scopes: s.Scopes,
		Expires: s.Expires, Revoked: s.Revoked, RateLimit: s.RateLimit, RateBurst: s.Burst, Created: s.Created,
		LastUsed: s.LastUsed, ReplacedBy: s.ReplacedBy, GraceUntil: s.GraceUntil,
	}
}

// stopsAt returns when the key stops (or stopped) working: the earliest
// of its revocation, its expiry and the end of its rotation grace; ok is
// false for a key with no end.
func (s storedRecord) stopsAt() (end time.Time, ok bool) {
	consider := func(t time.Time) {
		if !t.IsZero() && (!ok || t.Before(end)) {
			end, ok = t, true
		}
	}
	if s.Revoked {
		consider(s.RevokedAt)
	}
	consider(s.Expires)
	if s.ReplacedBy != "" {
		consider(s.GraceUntil)
	}
	return end, ok
}

// ttl is the store TTL of s written at now: until the key stops working
// plus retention, or idle for a key with no end.
func (s storedRecord) ttl(now time.Time, retention, idle time.Duration) time.Duration {
	end, ok := s.stopsAt()
	if !ok {
		return idle
	}
	return max(end.Sub(now)+retention, minRecordTTL)
}

// check returns the verification error of a record whose secret
// matched, at now: ErrRevoked, ErrRotated, ErrExpired or nil.
func (r Record) check(now time.Time) error {
	switch {
	case r.Revoked:
		return ErrRevoked
	case r.ReplacedBy != "" && !now.Before(r.GraceUntil):
		return ErrRotated
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return ErrExpired
	}
	return nil
}

// keys builds the store keys of one registry.
type keys struct{ prefix string }

func (k keys) record(id string) string { return store.Key(k.prefix, kindKey, id) }
func (k keys) index() string           { return store.Key(k.prefix, kindIndex, indexID) }

// lockKey is the lock of a record or index key, in the same slot.
func lockKey(key string) string { return key + ":lock" }

// errNoChange tells update that the record needs no write.
var errNoChange = errors.New("apikey: no change")
