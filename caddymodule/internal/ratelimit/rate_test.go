package ratelimit

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Rate
		ok   bool
	}{
		{in: "100/1m", want: Rate{100, time.Minute}, ok: true},
		{in: "10/s", want: Rate{10, time.Second}, ok: true},
		{in: "5000/d", want: Rate{5000, 24 * time.Hour}, ok: true},
		{in: "5/2d", want: Rate{5, 48 * time.Hour}, ok: true},
		{in: "3/500ms", want: Rate{3, 500 * time.Millisecond}, ok: true},
		{in: "100", ok: false},
		{in: "0/1m", ok: false},
		{in: "-1/1m", ok: false},
		{in: "x/1m", ok: false},
		{in: "1/fortnight", ok: false},
		{in: "1/1us", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRate(tt.in)
			if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
	if (Rate{Count: 100, Period: time.Minute}).Interval() != 600*time.Millisecond {
		t.Fatal("Interval is wrong")
	}
}

func TestZoneValidate(t *testing.T) {
	t.Parallel()
	good := Zone{Name: "per_user", Rate: Rate{100, time.Minute}, Burst: 20, Key: DefaultKey}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, z := range []Zone{
		{Name: "Per User", Rate: good.Rate},
		{Name: "", Rate: good.Rate},
		{Name: "ok"},
		{Name: "ok", Rate: good.Rate, Burst: -1},
	} {
		if z.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", z)
		}
	}
}
