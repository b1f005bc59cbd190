package session

import (
	"os"
	"runtime/debug"
	"strings"
)

// The session cookie is found by scanning the request's Cookie header
// lines for its name rather than with net/http's Request.CookiesNamed,
// which checks every other cookie's name, validates every value byte and
// allocates a slice and a Cookie per match on every request. The scan
// yields the same values in the same order (a differential test holds it
// to net/http's reading); it only leaves the value check to the caller,
// which skips it when the value is one that decoded before (a cached
// ticket is a valid cookie value: see decodeTicket).

// netHTTPCookieMaxNum is net/http's default limit on the cookies of a
// request: with more, it reads none (GODEBUG httpcookiemaxnum).
const netHTTPCookieMaxNum = 3000

// cookieLimitChanged reports whether this process may run with a
// httpcookiemaxnum setting other than the default, in its environment or
// built in (a //go:debug directive or go.mod godebug line). Then the
// scan is not used: net/http reads the cookies, with its own limit.
var cookieLimitChanged = godebugMentions("httpcookiemaxnum")

// godebugMentions reports whether the GODEBUG environment variable or the
// binary's default GODEBUG mentions setting.
func godebugMentions(setting string) bool {
	if strings.Contains(os.Getenv("GODEBUG"), setting) {
		return true
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "DefaultGODEBUG" && strings.Contains(s.Value, setting) {
			return true
		}
	}
	return false
}

// cookieScan walks the Cookie header lines for the values of one cookie,
// as net/http's readCookies splits and trims them. name must be a valid
// cookie name (an RFC 6265 token), as CookieConfig.withDefaults ensures:
// a part whose trimmed name equals it is then one net/http reads too.
type cookieScan struct {
	lines []string // header lines not started yet
	line  string   // the rest of the current line
	name  string
}

// newCookieScan returns a scan of lines (the request's Cookie header) for
// the cookie called name. ok is false when net/http would read no cookie
// at all from these lines because there are too many, or when the
// process may have changed that limit: the caller then asks net/http.
func newCookieScan(lines []string, name string) (s cookieScan, ok bool) {
	if cookieLimitChanged {
		return cookieScan{}, false
	}
	// A line holds at most len+1 cookies: count only when that may be
	// too many.
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	if n > netHTTPCookieMaxNum {
		n = 0
		for _, l := range lines {
			n += strings.Count(l, ";") + 1
		}
		if n > netHTTPCookieMaxNum {
			return cookieScan{}, false
		}
	}
	return cookieScan{lines: lines, name: name}, true
}

// next returns the next value of the cookie, surrounding double quotes
// removed, and false when there is none left. The value is not checked:
// net/http drops a value with a byte validCookieValue refuses.
func (s *cookieScan) next() (string, bool) {
	for {
		for s.line == "" {
			if len(s.lines) == 0 {
				return "", false
			}
			s.line, s.lines = trimCookieSpace(s.lines[0]), s.lines[1:]
		}
		// A part whose trimmed name is the cookie's contains it: skip
		// the parts before the first one that does.
		i := strings.Index(s.line, s.name)
		if i < 0 {
			s.line = ""
			continue
		}
		if j := strings.LastIndexByte(s.line[:i], ';'); j >= 0 {
			s.line = s.line[j+1:]
		}
		var part string
		part, s.line, _ = strings.Cut(s.line, ";")
		part = trimCookieSpace(part)
		if part == "" {
			continue
		}
		name, val, _ := strings.Cut(part, "=") // no "=": an empty value
		if trimCookieSpace(name) != s.name {
			continue
		}
		if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		return val, true
	}
}

// trimCookieSpace trims ASCII space (space, tab, CR, LF) on both sides,
// as net/textproto.TrimString.
func trimCookieSpace(s string) string {
	for len(s) > 0 && isCookieSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isCookieSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// isCookieSpace reports whether b is ASCII space as net/textproto sees it.
func isCookieSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r'
}

// validCookieValue reports whether net/http accepts v (quotes removed)
// as a cookie value: printable ASCII other than '"', ';' and '\'.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}
