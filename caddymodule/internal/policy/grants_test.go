package policy

import (
	"reflect"
	"testing"
)

func TestEffectiveScopes(t *testing.T) {
	t.Parallel()
	imp, err := NewImplications(map[string][]string{
		"orders:admin": {"orders:write"},
		"orders:write": {"orders:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	admins, _ := NewCondition([]string{"admins"}, "", nil)
	verified, _ := NewCondition(nil, "email_verified", []string{"true"})
	grants := []Grant{
		{Scopes: []string{"orders:admin"}, To: admins},
		{Scopes: []string{"reports:read", "orders:read"}, To: verified},
	}
	admin := Attributes{Groups: []string{"admins"}}
	both := Attributes{Groups: []string{"admins"}, Claims: map[string]any{"email_verified": true}}
	tests := []struct {
		name    string
		granted []string
		grants  []Grant
		a       Attributes
		imp     *Implications
		want    []string
	}{
		{name: "nothing", want: nil},
		{name: "granted only", granted: []string{"x"}, grants: grants, want: []string{"x"}},
		{name: "mapped then implied", grants: grants, a: admin, imp: imp, want: []string{"orders:admin", "orders:read", "orders:write"}}, // implied ones sorted
		{name: "granted first, no duplicates", granted: []string{"orders:read", "x"}, grants: grants, a: both, imp: imp,
			want: []string{"orders:read", "x", "orders:admin", "reports:read", "orders:write"}},
		{name: "implications without grants (API keys)", granted: []string{"orders:write"}, imp: imp, want: []string{"orders:write", "orders:read"}},
		{name: "no implications", grants: grants, a: admin, want: []string{"orders:admin"}},
		{name: "grants are not for others", grants: grants, a: Attributes{Groups: []string{"staff"}}, imp: imp, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			granted := append([]string(nil), tt.granted...)
			got := EffectiveScopes(granted, tt.grants, tt.a, tt.imp)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("EffectiveScopes = %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(granted, append([]string(nil), tt.granted...)) {
				t.Fatalf("the granted scopes were modified: %q", granted)
			}
		})
	}
}

func TestEffectiveScopesDoesNotCopyWhenNothingIsAdded(t *testing.T) {
	granted := []string{"a", "b"}
	if got := EffectiveScopes(granted, nil, Attributes{}, nil); &got[0] != &granted[0] {
		t.Fatal("a copy was made although nothing was added")
	}
	if n := testing.AllocsPerRun(100, func() { EffectiveScopes(granted, nil, Attributes{}, nil) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestGrantValidate(t *testing.T) {
	t.Parallel()
	for _, g := range []Grant{{}, {Scopes: []string{"a b"}}, {Scopes: []string{"orders:*"}}} {
		if err := g.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", g)
		}
	}
	if err := (Grant{Scopes: []string{"orders:read"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}
