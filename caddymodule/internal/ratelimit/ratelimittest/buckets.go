package ratelimittest

import (
	"errors"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/ratelimit"
)

// admitted counts how many of n cost-1 requests for key in z pass.
func (e *env) admitted(z ratelimit.Zone, key string, override *ratelimit.Quota, n int) int {
	e.t.Helper()
	got := 0
	for range n {
		if e.allow(ratelimit.Request{Zone: z, Key: key, Override: override})[0].Allowed {
			got++
		}
	}
	return got
}

// testOverride: a key's own quota replaces the zone's, for that key only.
func testOverride(e *env) {
	z := e.zone("z", "1/1m", 0)
	own := &ratelimit.Quota{Rate: ratelimit.Rate{Count: 5, Period: time.Minute}, Burst: 4}
	r := e.allow(ratelimit.Request{Zone: z, Key: "vip", Override: own})[0]
	checkResult(e.t, "override", r, z, *own)
	if !r.Allowed || r.Remaining != 4 {
		e.t.Fatalf("override: allowed=%v remaining=%d, want true 4", r.Allowed, r.Remaining)
	}
	if got := e.admitted(z, "vip", own, 6); got != 4 {
		e.t.Fatalf("override admitted %d more, want 4", got)
	}
	if got := e.admitted(z, "plain", nil, 3); got != 1 {
		e.t.Fatalf("zone quota admitted %d, want 1", got)
	}
}

// testIndependentBuckets: keys of one zone, and zones for one key, do not
// share buckets.
func testIndependentBuckets(e *env) {
	a, b := e.zone("a", "3/1m", 2), e.zone("b", "3/1m", 2)
	for _, tt := range []struct {
		z   ratelimit.Zone
		key string
	}{{a, "k1"}, {a, "k2"}, {b, "k1"}, {a, "K1"}, {a, "k1 "}} {
		if got := e.admitted(tt.z, tt.key, nil, 5); got != 3 {
			e.t.Errorf("zone %s key %q admitted %d, want 3", tt.z.Name, tt.key, got)
		}
	}
}

// testSeveralZones: a request passes only if every zone admits it, and a
// refused request charges no zone.
func testSeveralZones(e *env) {
	wide, narrow := e.zone("wide", "10/1m", 9), e.zone("narrow", "1/1m", 0)
	both := []ratelimit.Request{{Zone: wide, Key: "k"}, {Zone: narrow, Key: "k"}}
	rs := e.allow(both...)
	if !ratelimit.Allowed(rs) || rs[0].Remaining != 9 || rs[1].Remaining != 0 {
		e.t.Fatalf("first request: %+v, want admitted with 9 and 0 left", rs)
	}
	for i := range 3 {
		rs = e.allow(both...)
		if ratelimit.Allowed(rs) || rs[1].Allowed || !rs[0].Allowed {
			e.t.Fatalf("request %d: %+v, want refused by narrow only", i+2, rs)
		}
		if rs[0].Source == ratelimit.SourceStore && rs[0].Remaining != 9 {
			e.t.Errorf("request %d: wide reports %d left, want 9 (nothing charged)", i+2, rs[0].Remaining)
		}
		if s, _ := ratelimit.Strictest(rs); s.Zone != narrow.Name {
			e.t.Errorf("request %d: Strictest is %q, want the refusing zone", i+2, s.Zone)
		}
	}
	r := e.one(wide, "k")
	if !r.Allowed || r.Remaining != 8 {
		e.t.Fatalf("wide alone: allowed=%v remaining=%d, want true 8 (refused requests charged it)", r.Allowed, r.Remaining)
	}
	// The order of zones does not matter.
	rs = e.allow(both[1], both[0])
	if ratelimit.Allowed(rs) || rs[0].Allowed || !rs[1].Allowed {
		e.t.Fatalf("reversed: %+v, want refused by narrow only", rs)
	}
	if r := e.one(wide, "k"); r.Remaining != 7 {
		e.t.Fatalf("wide alone: remaining %d, want 7", r.Remaining)
	}
}

// testSameBucketTwice: one request may name the same zone and key twice;
// it then counts twice, all or nothing.
func testSameBucketTwice(e *env) {
	z := e.zone("z", "2/1m", 1) // two at once
	twice := []ratelimit.Request{{Zone: z, Key: "k"}, {Zone: z, Key: "k"}}
	rs := e.allow(twice...)
	if !ratelimit.Allowed(rs) || rs[0].Remaining != 1 || rs[1].Remaining != 0 {
		e.t.Fatalf("twice on a full bucket: %+v, want admitted, 1 then 0 left", rs)
	}
	if e.one(z, "k").Allowed {
		e.t.Fatal("bucket not empty after a request that counted twice")
	}
	one := e.zone("one", "1/1m", 0)
	twice = []ratelimit.Request{{Zone: one, Key: "k"}, {Zone: one, Key: "k"}}
	if rs := e.allow(twice...); ratelimit.Allowed(rs) {
		e.t.Fatalf("twice on a bucket of one: %+v, want refused", rs)
	}
	if !e.one(one, "k").Allowed {
		e.t.Fatal("a refused request that counted twice charged the bucket")
	}
}

// testInvalidRequests: bad requests fail without results; no request
// gives no results.
func testInvalidRequests(e *env) {
	z := e.zone("z", "1/1m", 2)
	for _, tt := range []struct {
		name string
		req  ratelimit.Request
	}{
		{"empty key", ratelimit.Request{Zone: z}},
		{"no zone name", ratelimit.Request{Zone: ratelimit.Zone{Rate: z.Rate}, Key: "k"}},
		{"no rate", ratelimit.Request{Zone: ratelimit.Zone{Name: z.Name}, Key: "k"}},
		{"negative burst", ratelimit.Request{Zone: ratelimit.Zone{Name: z.Name, Rate: z.Rate, Burst: -1}, Key: "k"}},
		{"negative cost", ratelimit.Request{Zone: z, Key: "k", Cost: -1}},
		{"cost above burst+1", ratelimit.Request{Zone: z, Key: "k", Cost: 4}},
		{"override without rate", ratelimit.Request{Zone: z, Key: "k", Override: &ratelimit.Quota{Burst: 3}}},
	} {
		rs, err := e.lim.Allow(e.t.Context(), []ratelimit.Request{{Zone: z, Key: "ok"}, tt.req})
		if err == nil || rs != nil || errors.Is(err, ratelimit.ErrUnavailable) {
			e.t.Errorf("%s: Allow = %v, %v; want nil and an invalid-request error", tt.name, rs, err)
		}
	}
	if !e.one(z, "ok").Allowed || e.admitted(z, "ok", nil, 3) != 2 {
		e.t.Error("an invalid request charged the valid one beside it")
	}
	rs, err := e.lim.Allow(e.t.Context(), nil)
	if err != nil || len(rs) != 0 {
		e.t.Errorf("Allow(nil) = %v, %v; want no results", rs, err)
	}
}
