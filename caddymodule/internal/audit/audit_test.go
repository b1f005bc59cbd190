package audit

import (
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/orders", "/orders"},
		{"/orders?access_token=secret", "/orders"},
		{"/a#frag?x", "/a"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CleanPath(tt.in); got != tt.want {
			t.Errorf("CleanPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanUserAgent(t *testing.T) {
	t.Parallel()
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'a'
	}
	if got := CleanUserAgent(string(long)); len(got) != maxUserAgent {
		t.Fatalf("len = %d, want %d", len(got), maxUserAgent)
	}
	if got := CleanUserAgent("curl\r\nX: y"); got != "curlX: y" {
		t.Fatalf("control characters kept: %q", got)
	}
}

func TestSessionHash(t *testing.T) {
	t.Parallel()
	a, b := SessionHash("session-a"), SessionHash("session-b")
	if len(a) != 16 || a == b || a == "session-a" || SessionHash("") != "" {
		t.Fatalf("SessionHash: %q %q", a, b)
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	if _, err := NewSampler(1.5, nil); err == nil {
		t.Fatal("rate above 1 accepted")
	}
	off, _ := NewSampler(0, nil)
	tenth, _ := NewSampler(0.1, seq(0.05, 0.5))
	tests := []struct {
		name   string
		s      Sampler
		kind   Kind
		result Result
		want   []bool
	}{
		{name: "zero value logs all", s: Sampler{}, kind: KindDecision, result: Allow, want: []bool{true}},
		{name: "all", s: AllowAll, kind: KindDecision, result: Allow, want: []bool{true}},
		{name: "off drops allows", s: off, kind: KindDecision, result: Allow, want: []bool{false}},
		{name: "off keeps denials", s: off, kind: KindDecision, result: Deny, want: []bool{true}},
		{name: "off keeps security events", s: off, kind: KindLogin, result: Allow, want: []bool{true}},
		{name: "sampled", s: tenth, kind: KindDecision, result: Allow, want: []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, want := range tt.want {
				if got := tt.s.Keep(tt.kind, tt.result); got != want {
					t.Fatalf("call %d: Keep = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// seq returns a source yielding the given values in turn.
func seq(vals ...float64) func() float64 {
	i := 0
	return func() float64 { v := vals[i%len(vals)]; i++; return v }
}

// TestCleanUserAgentFastPath: the fast path answers exactly what the
// rune-by-rune cleaning does, over a corpus with control characters,
// invalid UTF-8 and cuts inside a multi-byte sequence.
func TestCleanUserAgentFastPath(t *testing.T) {
	t.Parallel()
	slow := func(ua string) string {
		if len(ua) > maxUserAgent {
			ua = ua[:maxUserAgent]
		}
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, ua)
	}
	corpus := []string{"", "wrk", "Mozilla/5.0 (X11; Linux x86_64)", "tab\there", "del\x7f", "nul\x00", "é ü 日本",
		"bad \xff utf8", "\xc3", "cut\xe6\x97", strings.Repeat("a", 255) + "é", strings.Repeat("é", 200), "\u2028 line sep", "\x1b[31mred"}
	for _, ua := range corpus {
		if got, want := CleanUserAgent(ua), slow(ua); got != want {
			t.Errorf("CleanUserAgent(%q) = %q, want %q", ua, got, want)
		}
	}
}
