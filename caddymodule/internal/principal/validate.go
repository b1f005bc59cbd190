package principal

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformed is matched (errors.Is) by every error Validate returns.
var ErrMalformed = errors.New("principal: malformed identity")

// Validate reports whether every identity value of p can be carried
// upstream (headers, placeholders, assertions, audit events) as exactly
// itself, so no principal can pass for another or smuggle structure into
// a header. Nothing is ever cleaned up: a value that fails makes the
// whole credential unusable. The rules:
//
//   - Method is one of the known methods; Subject is not empty.
//   - Every value is valid UTF-8 without control characters: C0
//     (U+0000–U+001F, tab included), DEL, C1 (U+0080–U+009F), the line
//     and paragraph separators U+2028 and U+2029, and the bidirectional
//     embedding, override and isolate controls U+202A–U+202E and
//     U+2066–U+2069, which reorder how a value is displayed.
//   - Subject, Email, KeyID, Issuer, ClientID, ACR, SessionID, RateLimit,
//     each audience and each AMR value neither start nor end with a
//     space: HTTP parsers drop surrounding whitespace from header values,
//     so "admin " would reach an upstream as "admin". Name may (it only
//     names, and is displayed).
//   - Each group is non-empty (groups travel percent-encoded, see the
//     adapter, so they may hold spaces and commas).
//   - Each scope is an RFC 6749 scope-token (section 3.3): one or more
//     of %x21 / %x23-5B / %x5D-7E, so no space, quote or backslash, and
//     a scope list joined with spaces splits back into the same scopes.
//
// The error names the field (and index), never the value.
func (p Principal) Validate() error {
	if !p.Method.Valid() {
		return fmt.Errorf("%w: unknown method", ErrMalformed)
	}
	if p.Subject == "" {
		return fmt.Errorf("%w: empty subject", ErrMalformed)
	}
	for _, f := range [...]struct {
		name, v string
	}{
		{"subject", p.Subject}, {"email", p.Email}, {"key id", p.KeyID}, {"issuer", p.Issuer},
		{"client id", p.ClientID}, {"acr", p.ACR}, {"session id", p.SessionID}, {"rate limit", p.RateLimit},
	} {
		if err := checkID(f.name, -1, f.v); err != nil {
			return err
		}
	}
	if !ValidText(p.Name) {
		return fmt.Errorf("%w: name has a control character or is not UTF-8", ErrMalformed)
	}
	for i, a := range p.Audience {
		if err := checkID("audience", i, a); err != nil {
			return err
		}
	}
	for i, a := range p.AMR {
		if err := checkID("amr", i, a); err != nil {
			return err
		}
	}
	for i, g := range p.Groups {
		if g == "" || !ValidText(g) {
			return fmt.Errorf("%w: group %d is empty, has a control character or is not UTF-8", ErrMalformed, i)
		}
	}
	for i, s := range p.Scopes {
		if !ValidScope(s) {
			return fmt.Errorf("%w: scope %d is not a scope-token (RFC 6749 section 3.3)", ErrMalformed, i)
		}
	}
	return nil
}

// checkID checks an identifier-like value: text without surrounding
// spaces. index is -1 for a single value.
func checkID(name string, index int, v string) error {
	if v == "" {
		return nil
	}
	if !ValidText(v) || v[0] == ' ' || v[len(v)-1] == ' ' {
		if index >= 0 {
			name = fmt.Sprintf("%s %d", name, index)
		}
		return fmt.Errorf("%w: %s has a control character or surrounding space, or is not UTF-8", ErrMalformed, name)
	}
	return nil
}

// ValidText reports whether s is valid UTF-8 without the control
// characters Validate refuses (C0, DEL, C1, U+2028, U+2029, U+202A–U+202E,
// U+2066–U+2069). The empty string is valid.
func ValidText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf { // ASCII: the common case, one comparison
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, // invalid UTF-8
			r >= 0x80 && r <= 0x9f, // C1
			r == 0x2028 || r == 0x2029,
			r >= 0x202a && r <= 0x202e,
			r >= 0x2066 && r <= 0x2069:
			return false
		}
		i += size
	}
	return true
}

// ValidScope reports whether s is an RFC 6749 scope-token: one or more
// of %x21 / %x23-5B / %x5D-7E.
func ValidScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
