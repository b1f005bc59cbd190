package policy

import (
	"testing"
	"time"
)

func TestMFA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	admins, _ := NewCondition([]string{"admins", "developers"}, "", nil)
	m := MFA{RequiredFor: []Condition{admins}, Methods: []string{"otp", "hwk"}, ACR: []string{"urn:mfa"}, Grace: time.Hour}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if !m.Required(Attributes{Groups: []string{"developers"}}) || m.Required(Attributes{Groups: []string{"staff"}}) || m.Required(Attributes{}) {
		t.Fatal("Required selects the wrong principals")
	}
	if (MFA{Methods: []string{"otp"}}).Required(Attributes{Groups: []string{"admins"}}) {
		t.Fatal("an mfa without required_for requires it of someone")
	}
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name string
		m    MFA
		a    Attributes
		want bool
	}{
		{name: "password only", m: m, a: Attributes{AMR: []string{"pwd"}, AuthTime: at(time.Minute)}},
		{name: "otp within grace", m: m, a: Attributes{AMR: []string{"pwd", "otp"}, AuthTime: at(time.Minute)}, want: true},
		{name: "otp at the end of grace", m: m, a: Attributes{AMR: []string{"pwd", "otp"}, AuthTime: at(time.Hour)}, want: true},
		{name: "otp after grace", m: m, a: Attributes{AMR: []string{"pwd", "otp"}, AuthTime: at(time.Hour + time.Second)}},
		{name: "otp with unknown auth_time", m: m, a: Attributes{AMR: []string{"otp"}}},
		{name: "acr class", m: m, a: Attributes{ACR: "urn:mfa", AuthTime: at(time.Minute)}, want: true},
		{name: "other acr", m: m, a: Attributes{ACR: "urn:pwd", AuthTime: at(time.Minute)}},
		{name: "unlisted method", m: m, a: Attributes{AMR: []string{"pwd", "sms"}, AuthTime: at(time.Minute)}},
		{name: "no grace: counts for the credential's life", m: MFA{Methods: []string{"otp"}}, a: Attributes{AMR: []string{"otp"}}, want: true},
		{name: "empty acr never matches", m: MFA{ACR: []string{""}, Methods: []string{"otp"}}, a: Attributes{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.m.Proven(tt.a, now); got != tt.want {
				t.Fatalf("Proven = %v, want %v", got, tt.want)
			}
		})
	}
	if ask := m.Ask(); ask.MaxAge != time.Hour || len(ask.ACRValues) != 1 {
		t.Fatalf("Ask = %+v", ask)
	}
	for _, bad := range []MFA{{}, {Methods: []string{"otp"}, Grace: -time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("Validate accepted %+v", bad)
		}
	}
}
