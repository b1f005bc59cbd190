package session

import (
	"hash/maphash"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ctequal"
)

const (
	// ticketCacheSize bounds the session cookies remembered as decoded.
	ticketCacheSize = 4096
	// ticketCacheTTL is how long a decoded cookie is remembered. The
	// cookie's own age limit (its securecookie timestamp) is then checked
	// again; the session record's absolute expiry is checked on every
	// Load regardless.
	ticketCacheTTL = time.Minute
)

// ticketCache remembers session cookies that decoded, so a browser
// sending the same cookie again costs a keyed hash, a map lookup and a
// comparison instead of an HMAC check and a decryption. It is keyed by
// a keyed hash (maphash, per-process random seed) of the cookie value,
// which only places the entry: a hit must also equal the whole cookie
// that decoded, compared in constant time, so no other value (a
// collision included) is ever taken for it. This replaced a SHA-256 of
// the value (and the copy to hash it); the decoded values are now held
// (bounded by ticketCacheSize), as the process holds them anyway while
// it serves them. Only cookies that decoded are added, so a flood of
// forged cookies does not fill it. Entries are never changed once added:
// a hit shares one, read-only.
type ticketCache struct {
	entries bounded[uint64, *cachedTicket]
}

// ticketSeed keys the ticket cache's hash, per process.
var ticketSeed = maphash.MakeSeed()

// ticketKey is the cache key of a cookie value.
func ticketKey(value string) uint64 {
	return maphash.String(ticketSeed, value)
}

// cachedTicket is the session id (and its hash and store key) in a
// decoded cookie, and the cookie value it was decoded from.
type cachedTicket struct {
	value      string
	id, idHash string
	key        string // the store key of the session: keys.session(idHash)
	until      time.Time
}

// get returns the entry for the cookie value (whose key is k), if fresh
// at now. The entry is shared: do not modify it.
func (c *ticketCache) get(k uint64, value string, now time.Time) (*cachedTicket, bool) {
	e, ok := c.entries.get(k)
	if !ok || !now.Before(e.until) || !ctequal.Strings(e.value, value) {
		return nil, false
	}
	return e, true
}

// put remembers the cookie whose key is k as holding e (e.value is the
// cookie value) and returns the entry it keeps.
func (c *ticketCache) put(k uint64, e cachedTicket) *cachedTicket {
	c.entries.put(k, &e, ticketCacheSize)
	return &e
}

// len returns the number of entries, for tests.
func (c *ticketCache) len() int { return c.entries.len() }
