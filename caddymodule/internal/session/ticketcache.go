package session

import (
	"crypto/sha256"
	"time"
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
// sending the same cookie again costs one SHA-256 and a map lookup
// instead of an HMAC check and a decryption. It is keyed by the SHA-256
// of the cookie value: the value itself is never kept, and a lookup
// compares digests of the attacker's input, which reveals nothing about
// a valid cookie. Only cookies that decoded are added, so a flood of
// forged cookies does not fill it.
type ticketCache struct {
	entries bounded[[sha256.Size]byte, cachedTicket]
}

// cachedTicket is the session id (and its hash) in a decoded cookie.
type cachedTicket struct {
	id, idHash string
	until      time.Time
}

// get returns the entry for the cookie with digest d, if fresh at now.
func (c *ticketCache) get(d [sha256.Size]byte, now time.Time) (cachedTicket, bool) {
	e, ok := c.entries.get(d)
	if !ok || !now.Before(e.until) {
		return cachedTicket{}, false
	}
	return e, true
}

// put remembers the cookie with digest d as holding e.
func (c *ticketCache) put(d [sha256.Size]byte, e cachedTicket) {
	c.entries.put(d, e, ticketCacheSize)
}

// len returns the number of entries, for tests.
func (c *ticketCache) len() int { return c.entries.len() }
