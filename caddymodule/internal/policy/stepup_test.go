package policy

import (
	"reflect"
	"testing"
	"time"
)

func TestCheckStepUp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	admins, _ := NewCondition([]string{"admins"}, "", nil)
	const mfaClass = "urn:mfa"
	admin := Attributes{Groups: []string{"admins"}, AuthTime: now.Add(-10 * time.Minute)}
	staff := Attributes{Groups: []string{"staff"}, AuthTime: now.Add(-10 * time.Minute)}
	tests := []struct {
		name  string
		rules []StepUp
		a     Attributes
		ok    bool
		ask   AuthRequest
	}{
		{name: "no rules", a: admin, ok: true},
		{name: "recent enough", rules: []StepUp{{MaxAge: time.Hour}}, a: admin, ok: true},
		{name: "exactly max_age", rules: []StepUp{{MaxAge: 10 * time.Minute}}, a: admin, ok: true},
		{name: "too old", rules: []StepUp{{MaxAge: 5 * time.Minute}}, a: admin, ask: AuthRequest{MaxAge: 5 * time.Minute}},
		{name: "unknown auth_time", rules: []StepUp{{MaxAge: time.Hour}}, a: Attributes{}, ask: AuthRequest{MaxAge: time.Hour}},
		{name: "wrong acr", rules: []StepUp{{ACR: []string{mfaClass}}}, a: admin, ask: AuthRequest{ACRValues: []string{mfaClass}}},
		{name: "right acr", rules: []StepUp{{ACR: []string{mfaClass}}}, a: Attributes{ACR: mfaClass}, ok: true},
		{name: "conditional applies", rules: []StepUp{{MaxAge: 5 * time.Minute, When: &admins}}, a: admin, ask: AuthRequest{MaxAge: 5 * time.Minute}},
		{name: "conditional does not apply", rules: []StepUp{{MaxAge: 5 * time.Minute, When: &admins}}, a: staff, ok: true},
		{name: "smallest max_age of the rules that apply", rules: []StepUp{{MaxAge: time.Hour}, {MaxAge: 5 * time.Minute, When: &admins}, {MaxAge: time.Minute, ACR: []string{"x"}, When: &Condition{}}},
			a: admin, ask: AuthRequest{MaxAge: 5 * time.Minute}},
		{name: "acr asked with a failing max_age", rules: []StepUp{{MaxAge: 5 * time.Minute}, {ACR: []string{mfaClass}}}, a: Attributes{ACR: mfaClass, AuthTime: now.Add(-time.Hour)},
			ask: AuthRequest{MaxAge: 5 * time.Minute, ACRValues: []string{mfaClass}}},
		{name: "the failing acr rule is asked", rules: []StepUp{{ACR: []string{"a", mfaClass}}, {ACR: []string{mfaClass}, When: &admins}}, a: Attributes{Groups: []string{"admins"}, ACR: "a"},
			ask: AuthRequest{ACRValues: []string{mfaClass}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ask, ok := CheckStepUp(tt.rules, tt.a, now)
			if ok != tt.ok || !reflect.DeepEqual(ask, tt.ask) {
				t.Fatalf("CheckStepUp = %+v, %v; want %+v, %v", ask, ok, tt.ask, tt.ok)
			}
		})
	}
}
