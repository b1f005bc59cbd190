package apikey

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

const day = 24 * time.Hour

func TestLifetimePolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    LifetimePolicy
		ok   bool
	}{
		{"zero", LifetimePolicy{}, true},
		{"both", LifetimePolicy{MaxLifetime: 90 * day, WarnBefore: 14 * day}, true},
		{"warn only", LifetimePolicy{WarnBefore: 14 * day}, true},
		{"warn as long as max", LifetimePolicy{MaxLifetime: 14 * day, WarnBefore: 14 * day}, false},
		{"negative", LifetimePolicy{MaxLifetime: -day}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestCheckExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	p := LifetimePolicy{MaxLifetime: 90 * day}
	tests := []struct {
		name    string
		p       LifetimePolicy
		expires time.Time
		ok      bool
	}{
		{"no cap, never", LifetimePolicy{}, time.Time{}, true},
		{"cap, never", p, time.Time{}, false},
		{"exactly the cap", p, now.Add(90 * day), true},
		{"a second beyond", p, now.Add(90*day + time.Second), false},
		{"well inside", p, now.Add(30 * day), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.CheckExpiry(tt.expires, now)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckExpiry = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrLifetime) {
				t.Fatalf("error %v does not wrap ErrLifetime", err)
			}
		})
	}
}

func TestBucketAndExpiring(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	p := LifetimePolicy{MaxLifetime: 90 * day, WarnBefore: 14 * day}
	tests := []struct {
		name     string
		expires  time.Time
		bucket   string
		expiring bool
	}{
		{"never", time.Time{}, BucketNever, false},
		{"expired", now.Add(-time.Second), BucketExpired, false},
		{"expires now", now, BucketExpired, false},
		{"hours left", now.Add(3 * time.Hour), BucketUnder1d, true},
		{"days left", now.Add(3 * day), BucketUnder7d, true},
		{"in window", now.Add(10 * day), BucketInWarning, true},
		{"window starts now", now.Add(14 * day), BucketInWarning, true},
		{"outside window", now.Add(14*day + time.Second), BucketOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Bucket(tt.expires, now); got != tt.bucket {
				t.Errorf("Bucket = %s, want %s", got, tt.bucket)
			}
			if got := p.Expiring(tt.expires, now); got != tt.expiring {
				t.Errorf("Expiring = %v, want %v", got, tt.expiring)
			}
		})
	}
	if got := (LifetimePolicy{}).Bucket(now.Add(3*day), now); got != BucketUnder7d {
		t.Errorf("without warnings, 3 days left is %s, want %s", got, BucketUnder7d)
	}
	if (LifetimePolicy{}).Expiring(now.Add(time.Hour), now) {
		t.Error("without warn_before nothing is expiring")
	}
}

func TestWarnerOncePerDay(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)
	w := NewWarner(2)
	if !w.Due("a", now) {
		t.Fatal("first warning not due")
	}
	if w.Due("a", now.Add(13*time.Hour)) {
		t.Fatal("second warning the same UTC day")
	}
	if !w.Due("a", now.Add(14*time.Hour)) {
		t.Fatal("no warning the next UTC day")
	}
	if !w.Due("b", now) || w.Len() != 2 {
		t.Fatalf("b: len %d", w.Len())
	}
	if !w.Due("c", now) || w.Len() != 1 {
		t.Fatalf("a full warner must forget, len %d", w.Len())
	}
}

func TestCreateRefusesBeyondMaxLifetime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	mem, err := store.NewMemory(store.MemoryOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	r := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	c := ctx(t)
	for _, exp := range []time.Time{{}, clock.Now().Add(91 * day)} {
		if _, _, err := r.Create(c, CreateOptions{Subject: "s", Expires: exp, MaxLifetime: 90 * day}); !errors.Is(err, ErrLifetime) {
			t.Fatalf("Create(expires %v) = %v, want ErrLifetime", exp, err)
		}
	}
	if _, _, err := r.Create(c, CreateOptions{Subject: "s", Expires: clock.Now().Add(90 * day), MaxLifetime: 90 * day}); err != nil {
		t.Fatal(err)
	}
}
