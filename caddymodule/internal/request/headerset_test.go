package request

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeaderSetMatchesSameHeaderName checks the set against the
// name-by-name comparison it replaces, over a corpus of spellings.
func TestHeaderSetMatchesSameHeaderName(t *testing.T) {
	t.Parallel()
	members := []string{"X-Auth-Subject", "X-Request-Id", "X-Http-Method-Override", "X-Original-Url", strings.Repeat("X-Long", 30)}
	set := HeaderSet{}.With(members...)
	corpus := []string{
		"X-Auth-Subject", "x-auth-subject", "X_AUTH_SUBJECT", "x_Auth-SUBJECT", " X-Auth-Subject", "X-Auth-Subject\t",
		"X-Auth-Subjec", "X-Auth-Subjects", "X-Auth-Subject2", "XAuth-Subject", "X-Auth–Subject", "X-Auth-Subject\u00a0",
		"X-Request-Id", "x-request_id", "X-Request-ID", "X-Request-Ids", "x-http-method-override", "X_HTTP_METHOD_OVERRIDE",
		"X-Original-Url", "x-original-URL", "X-Original-Uri", "", " ", "Authorization", "Cookie",
		strings.Repeat("X-Long", 30), strings.ToLower(strings.Repeat("X_LONG", 30)), strings.Repeat("X-Long", 31),
		"X-Auth-Subject", "X-Auth-\u212aubject",
	}
	for _, name := range corpus {
		want := false
		for _, m := range members {
			want = want || SameHeaderName(strings.TrimSpace(name), m)
		}
		if got := set.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	if (HeaderSet{}).Has("X-Auth-Subject") {
		t.Error("the empty set has a name")
	}
}

// TestHeaderSetStrip removes every spelling of a member and nothing else.
func TestHeaderSetStrip(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X-Auth-Subject": {"a"}, "x_auth_subject": {"b"}, "X-AUTH-SUBJECT": {"c"},
		"X-Auth-Email": {"d"}, "Authorization": {"e"}, "X-Original-Url": {"f"},
	}
	HeaderSet{}.With("X-Auth-Subject", "X-Original-URL").Strip(h)
	if len(h) != 2 || h["X-Auth-Email"] == nil || h["Authorization"] == nil {
		t.Fatalf("after Strip: %v", h)
	}
	before := len(h)
	HeaderSet{}.Strip(h)
	if len(h) != before {
		t.Fatal("the empty set removed a header")
	}
}

// TestHeaderSetWithCopies: With leaves the receiver as it was.
func TestHeaderSetWithCopies(t *testing.T) {
	t.Parallel()
	a := HeaderSet{}.With("X-A")
	b := a.With("X-B")
	if a.Has("X-B") || !b.Has("X-A") || !b.Has("x_b") {
		t.Fatalf("a has X-B: %v; b has X-A: %v", a.Has("X-B"), b.Has("X-A"))
	}
}

// BenchmarkHeaderSetStrip strips a request's headers of a route's
// identity, override and credential names.
func BenchmarkHeaderSetStrip(b *testing.B) {
	set := HeaderSet{}.With("X-Auth-Subject", "X-Auth-Email", "X-Auth-Name", "X-Auth-Method", "X-Auth-Key-Id", "X-Auth-Scopes",
		"X-Auth-Groups", "X-Auth-Issuer", "X-Auth-Provider", "X-Request-Id").With(URLOverrideHeaders...).With(MethodOverrideHeaders...)
	h := http.Header{"Authorization": {"Bearer x"}, "Accept": {"*/*"}, "User-Agent": {"wrk"}}
	b.ReportAllocs()
	for b.Loop() {
		set.Strip(h)
	}
}
