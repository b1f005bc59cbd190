package session

import (
	"bytes"
	"slices"
)

// recordCacheSize bounds the decoded records kept in memory: enough for
// the sessions active on one replica at a time; beyond it an arbitrary
// entry makes room, and a miss only costs one decryption and decode.
const recordCacheSize = 4096

// maxCachedRecord bounds the sealed size of a record worth remembering,
// so that the cache's memory stays bounded in bytes (about
// recordCacheSize × 2 × maxCachedRecord) even with huge ID tokens or
// claim sets; larger records are decoded on every Load.
const maxCachedRecord = 8 << 10

// recordCache remembers the last record decoded for each store key,
// together with the sealed bytes it came from. It never answers for the
// store: every Load still reads the store, and the cache is used only
// when the bytes read are exactly the bytes decoded before. AES-GCM and
// JSON decoding are deterministic, so a hit returns what decoding would,
// and any change in the store (logout, rotation, refresh, touch) is seen
// at once on every replica, as without the cache. It saves the JSON and
// AES-GCM work that was most of a Load's CPU.
//
// A hit returns the very record decoded, shared by every request that
// reads the same bytes, without a copy: records read from the store are
// never modified (a change is made on a copy: touchRecord, applyTokens),
// and a Session or Principal built from one shares its Claims slices and
// map read-only.
type recordCache struct {
	entries bounded[string, *cachedRecord]
}

// cachedRecord is one decoded record and the sealed bytes it came from.
// It is never changed once added.
type cachedRecord struct {
	sealed []byte
	rec    *record
}

// get returns the record decoded from sealed at key, if it is the last
// one decoded there. The record is shared: do not modify it.
func (c *recordCache) get(key string, sealed []byte) (*record, bool) {
	e, ok := c.entries.get(key)
	if !ok || !bytes.Equal(e.sealed, sealed) {
		return nil, false
	}
	return e.rec, true
}

// put remembers rec as decoded from sealed at key; from then on rec is
// shared and must not be modified. Its slices are clipped first so that
// a caller appending to a Session's or Principal's Groups or AMR
// reallocates instead of writing into memory other requests share.
func (c *recordCache) put(key string, sealed []byte, rec *record) {
	if len(sealed) > maxCachedRecord {
		return
	}
	rec.Claims.Groups = slices.Clip(rec.Claims.Groups)
	rec.Claims.AMR = slices.Clip(rec.Claims.AMR)
	rec.Claims.UserInfoClaims = slices.Clip(rec.Claims.UserInfoClaims)
	c.entries.put(key, &cachedRecord{sealed: bytes.Clone(sealed), rec: rec}, recordCacheSize)
}

// subject returns the subject of the last record decoded at key,
// whatever its bytes, or "". A session's subject never changes (refresh
// and touch keep it, and a session id is never reused), so it is the
// subject of the record stored there now, if any: a hint for a read's
// companions (Manager.LoadVia), never a substitute for the read.
func (c *recordCache) subject(key string) string {
	if e, ok := c.entries.get(key); ok {
		return e.rec.Subject
	}
	return ""
}

// forget drops key's entry, when the record is removed, so the tokens of
// an ended session do not stay in memory until evicted.
func (c *recordCache) forget(key string) { c.entries.remove(key) }

// len returns the number of entries, for tests.
func (c *recordCache) len() int { return c.entries.len() }
