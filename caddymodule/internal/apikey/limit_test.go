package apikey

import (
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func TestOwnQuota(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, rate string
		burst      int
		want       string // the quota's String, "" for none
		wantErr    bool
	}{
		{name: "none", want: ""},
		{name: "rate", rate: "100/1m", want: "100/1m0s burst 0"},
		{name: "rate and burst", rate: "100/1m", burst: 20, want: "100/1m0s burst 20"},
		{name: "burst alone", burst: 5, wantErr: true},
		{name: "bad rate", rate: "fast", wantErr: true},
		{name: "negative burst", rate: "1/s", burst: -1, wantErr: true},
		{name: "too fast", rate: "2000000/s", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := OwnQuota(tt.rate, tt.burst)
			if (err != nil) != tt.wantErr {
				t.Fatalf("OwnQuota(%q, %d) error = %v", tt.rate, tt.burst, err)
			}
			got := ""
			if q != nil {
				got = q.String()
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("OwnQuota(%q, %d) = %q, want %q", tt.rate, tt.burst, got, tt.want)
			}
		})
	}
	if FormatLimit("100/1m", 20) != "100/1m burst 20" || FormatLimit("10/s", 0) != "10/s" || FormatLimit("", 0) != "" {
		t.Fatal("FormatLimit")
	}
}

// TestCreateKeepsLimit: a stored key keeps its rate and burst, and its
// rotation inherits them.
func TestCreateKeepsLimit(t *testing.T) {
	t.Parallel()
	mem, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	clock := newClock()
	r := newTestRegistry(t, RegistryOptions{Store: mem, Now: clock.Now})
	c := ctx(t)
	if _, _, err := r.Create(c, CreateOptions{Subject: "s", Burst: 3}); err == nil {
		t.Fatal("a burst without a rate was accepted")
	}
	k, rec, err := r.Create(c, CreateOptions{Subject: "s", RateLimit: "100/1m", Burst: 20, Expires: clock.Now().Add(time.Hour)})
	if err != nil || rec.RateLimit != "100/1m" || rec.RateBurst != 20 {
		t.Fatalf("Create: %+v, %v", rec, err)
	}
	got, err := r.Verify(c, k.String())
	if err != nil || got.RateLimit != "100/1m" || got.RateBurst != 20 {
		t.Fatalf("Verify: %+v, %v", got, err)
	}
	_, rotated, err := r.Rotate(c, k.ID, time.Minute)
	if err != nil || rotated.RateLimit != "100/1m" || rotated.RateBurst != 20 {
		t.Fatalf("Rotate: %+v, %v", rotated, err)
	}
}
