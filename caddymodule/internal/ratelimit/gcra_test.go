package ratelimit

import (
	"testing"
	"time"
)

func TestGCRA(t *testing.T) {
	t.Parallel()
	const T = 100 // interval
	tests := []struct {
		name           string
		tat, now, cost int64
		capacity       int64
		want           cell
	}{
		{"fresh", 0, 1000, 1, 3, cell{allowed: true, tat: 1100, remaining: 2, resetAfter: 100}},
		{"past TAT is a full bucket", 500, 1000, 1, 3, cell{allowed: true, tat: 1100, remaining: 2, resetAfter: 100}},
		{"last one", 1200, 1000, 1, 3, cell{allowed: true, tat: 1300, remaining: 0, resetAfter: 300}},
		{"refused", 1300, 1000, 1, 3, cell{tat: 1300, remaining: 0, retryAfter: 100, resetAfter: 300}},
		{"refused midway", 1350, 1050, 1, 3, cell{tat: 1350, remaining: 0, retryAfter: 100, resetAfter: 300}},
		{"partly refilled", 1300, 1030, 1, 3, cell{tat: 1300, remaining: 0, retryAfter: 70, resetAfter: 270}},
		{"cost fits exactly", 1000, 1000, 3, 3, cell{allowed: true, tat: 1300, remaining: 0, resetAfter: 300}},
		{"cost too high now", 1100, 1000, 3, 3, cell{tat: 1100, remaining: 2, retryAfter: 100, resetAfter: 100}},
		{"burst 0 spaces events", 1100, 1000, 1, 1, cell{tat: 1100, remaining: 0, retryAfter: 100, resetAfter: 100}},
		{"burst 0 after one interval", 1100, 1100, 1, 1, cell{allowed: true, tat: 1200, remaining: 0, resetAfter: 100}},
		{"cost 0 reads", 1200, 1000, 0, 3, cell{allowed: true, tat: 1200, remaining: 1, resetAfter: 200}},
		{"quota lowered below use", 1500, 1000, 1, 2, cell{tat: 1500, remaining: 0, retryAfter: 400, resetAfter: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := gcra(tt.tat, tt.now, T, tt.capacity, tt.cost); got != tt.want {
				t.Errorf("gcra(tat %d, now %d, cost %d, capacity %d) = %+v, want %+v", tt.tat, tt.now, tt.cost, tt.capacity, got, tt.want)
			}
		})
	}
}

func TestQuotaCheck(t *testing.T) {
	t.Parallel()
	perSec := func(n int) Rate { return Rate{Count: n, Period: time.Second} }
	tests := []struct {
		name string
		q    Quota
		ok   bool
	}{
		{"plain", Quota{Rate: perSec(10), Burst: 5}, true},
		{"burst 0", Quota{Rate: perSec(10)}, true},
		{"one per microsecond", Quota{Rate: perSec(1_000_000)}, true},
		{"faster than a microsecond", Quota{Rate: perSec(1_000_001)}, false},
		{"no rate", Quota{Burst: 1}, false},
		{"negative burst", Quota{Rate: perSec(1), Burst: -1}, false},
		{"century window", Quota{Rate: Rate{Count: 1, Period: 24 * time.Hour}, Burst: 36_000}, true},
		{"window too long", Quota{Rate: Rate{Count: 1, Period: 24 * time.Hour}, Burst: 40_000}, false},
		{"huge burst", Quota{Rate: perSec(1), Burst: 1 << 62}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.q.Validate(); (err == nil) != tt.ok {
				t.Errorf("%v.Validate() = %v, want ok=%v", tt.q, err, tt.ok)
			}
		})
	}
	q := Quota{Rate: Rate{Count: 100, Period: 10 * time.Second}, Burst: 10}
	if q.Capacity() != 11 || q.Window() != 1100*time.Millisecond || q.String() != "100/10s burst 10" {
		t.Errorf("Capacity %d, Window %v, String %q", q.Capacity(), q.Window(), q.String())
	}
}

func TestZoneOnError(t *testing.T) {
	t.Parallel()
	base := Zone{Name: "z", Rate: Rate{Count: 1, Period: time.Second}}
	for _, tt := range []struct {
		onError OnError
		ok      bool
		allows  bool
	}{
		{"", true, false},
		{OnErrorDeny, true, false},
		{OnErrorAllow, true, true},
		{"open", false, false},
	} {
		z := base
		z.OnError = tt.onError
		if err := z.Validate(); (err == nil) != tt.ok {
			t.Errorf("OnError %q: Validate = %v, want ok=%v", tt.onError, err, tt.ok)
		}
		if z.OnError.allows() != tt.allows {
			t.Errorf("OnError %q allows = %v", tt.onError, !tt.allows)
		}
	}
	if err := (Zone{Name: "z", Rate: Rate{Count: 2_000_000, Period: time.Second}}).Validate(); err == nil {
		t.Error("Validate accepted a rate above one per microsecond")
	}
}
