package caddymodule

import (
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// benchLimitResult is an allowed answer of a zone like the benchmark's.
var benchLimitResult = ratelimit.Result{Zone: "per_client", Allowed: true, Limit: 21, Remaining: 20, ResetAfter: 1500 * time.Millisecond,
	Quota: ratelimit.Quota{Rate: ratelimit.Rate{Count: 60, Period: time.Minute}, Burst: 20}}

// TestRateLimitHeaderValues pins the header values: quoted zone as %q
// quotes it, q and w of the bucket, r and t of its state.
func TestRateLimitHeaderValues(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	setRateLimitHeaders(h, benchLimitResult)
	if got := h.Values("RateLimit-Policy"); len(got) != 1 || got[0] != `"per_client";q=21;w=21` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	if got := h.Values("RateLimit"); len(got) != 1 || got[0] != `"per_client";r=20;t=2` {
		t.Fatalf("RateLimit = %q", got)
	}
	// Each value is its own capped element: adding to one leaves the other.
	h.Add("RateLimit-Policy", "x")
	if got := h.Values("RateLimit"); len(got) != 1 || got[0] != `"per_client";r=20;t=2` {
		t.Fatalf("RateLimit after an Add to RateLimit-Policy = %q", got)
	}
	odd := benchLimitResult
	odd.Zone = "a\"b\\c"
	setRateLimitHeaders(h, odd)
	if got := h.Get("RateLimit"); got != `"a\"b\\c";r=20;t=2` {
		t.Fatalf("RateLimit with quotes in the zone = %q", got)
	}
}

// BenchmarkSetRateLimitHeaders measures the headers of an allowed
// request on a limited route.
func BenchmarkSetRateLimitHeaders(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h := make(http.Header, 2)
		setRateLimitHeaders(h, benchLimitResult)
	}
}
