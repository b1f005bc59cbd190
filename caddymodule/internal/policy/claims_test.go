package policy

import (
	"reflect"
	"testing"
)

func TestClaimRequirement(t *testing.T) {
	t.Parallel()
	claims := map[string]any{
		"groups":         []any{"staff", "admins"},
		"email_verified": true,
		"level":          float64(3),
		"tenant":         "acme",
	}
	tests := []struct {
		name string
		req  ClaimRequirement
		want bool
	}{
		{name: "array contains", req: ClaimRequirement{Claim: "groups", Values: []string{"admins"}}, want: true},
		{name: "array lacks", req: ClaimRequirement{Claim: "groups", Values: []string{"root"}}, want: false},
		{name: "bool true", req: ClaimRequirement{Claim: "email_verified", Values: []string{"true"}}, want: true},
		{name: "bool false", req: ClaimRequirement{Claim: "email_verified", Values: []string{"false"}}, want: false},
		{name: "number", req: ClaimRequirement{Claim: "level", Values: []string{"3"}}, want: true},
		{name: "string one of", req: ClaimRequirement{Claim: "tenant", Values: []string{"other", "acme"}}, want: true},
		{name: "missing claim", req: ClaimRequirement{Claim: "role", Values: []string{"x"}}, want: false},
		{name: "no type juggling", req: ClaimRequirement{Claim: "email_verified", Values: []string{"1"}}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.req.Matches(claims); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok := AuthorizeClaims([]ClaimRequirement{{Claim: "groups", Values: []string{"admins"}}, {Claim: "tenant", Values: []string{"x"}}}, claims); ok {
		t.Fatal("AuthorizeClaims passed with a failing requirement")
	}
	if _, ok := AuthorizeClaims(nil, nil); !ok {
		t.Fatal("no requirement must pass")
	}
	if (ClaimRequirement{Claim: "x"}).Validate() == nil || (ClaimRequirement{Values: []string{"a"}}).Validate() == nil {
		t.Fatal("Validate accepted an incomplete requirement")
	}
}

func TestAuthorizeAnyOf(t *testing.T) {
	t.Parallel()
	imp, _ := NewImplications(map[string][]string{"admin": {"orders:write"}})
	reqs := []Requirement{{Scopes: []string{"orders:write", "orders:approve"}, Any: true}}
	tests := []struct {
		name    string
		granted []string
		allow   bool
		missing []string
	}{
		{name: "one of", granted: []string{"orders:approve"}, allow: true},
		{name: "through implication", granted: []string{"admin"}, allow: true},
		{name: "none", granted: []string{"orders:read"}, missing: []string{"orders:write", "orders:approve"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Authorize(reqs, imp, tt.granted, Request{Method: "GET"})
			if d.Allow != tt.allow || !reflect.DeepEqual(d.Missing, tt.missing) {
				t.Fatalf("Authorize = %+v", d)
			}
		})
	}
}
