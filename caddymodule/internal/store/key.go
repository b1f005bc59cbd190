package store

import (
	"fmt"
	"strings"
)

// Key builds the key of one record: prefix, a colon, then a Redis Cluster
// hash tag made of kind and id:
//
//	Key("pcl", "s", "abc") == "pcl:{s:abc}"
//	Key("", "s", "abc")    == "{s:abc}"
//
// Redis Cluster hashes only the part between the first "{" and the next
// "}", so every key of one record lands in the same slot, whatever the
// prefix. Keys a multi-key operation or Lua script must touch together
// (for example a rate-limit window and its counter) are derived by
// appending a suffix after the closing brace, such as Key(p, "rl", ip)+":n",
// and so share the slot.
//
// prefix and kind must not contain "{" or "}" (check a configured prefix
// with ValidatePrefix); id may be anything, but if it contains "}" only the
// part before it is hashed, which is still the same for every key of the
// record.
func Key(prefix, kind, id string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(kind) + len(id) + 4)
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte(':')
	}
	b.WriteByte('{')
	b.WriteString(kind)
	b.WriteByte(':')
	b.WriteString(id)
	b.WriteByte('}')
	return b.String()
}

// ValidatePrefix checks a configured key prefix for use with Key: it must
// not contain "{" or "}" (they would move the hash tag) or whitespace or
// control characters (to keep keys readable in redis-cli). An empty prefix
// is valid.
func ValidatePrefix(prefix string) error {
	for _, r := range prefix {
		switch {
		case r == '{' || r == '}':
			return fmt.Errorf("store: key prefix %q must not contain braces", prefix)
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("store: key prefix %q must not contain whitespace or control characters", prefix)
		}
	}
	return nil
}
