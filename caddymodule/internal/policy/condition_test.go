package policy

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		claim string
		want  []string // nil: refused with ErrClaimSyntax
	}{
		{name: "plain name", claim: "email_verified", want: []string{"email_verified"}},
		{name: "colon", claim: "cognito:groups", want: []string{"cognito:groups"}},
		{name: "namespaced URL", claim: "https://example.com/roles", want: []string{"https://example.com/roles"}},
		{name: "pointer", claim: "/realm_access/roles", want: []string{"realm_access", "roles"}},
		{name: "pointer escapes", claim: "/a~1b/c~0d", want: []string{"a/b", "c~d"}},
		{name: "pointer to a dotted name", claim: "/email.verified", want: []string{"email.verified"}},
		{name: "pointer index", claim: "/roles/0", want: []string{"roles", "0"}},
		{name: "dotted path", claim: "realm_access.roles"},
		{name: "JSONPath", claim: "$.realm_access.roles"},
		{name: "brackets", claim: "roles[0]"},
		{name: "glob", claim: "role*"},
		{name: "empty", claim: ""},
		{name: "root pointer", claim: "/"},
		{name: "empty segment", claim: "/a//b"},
		{name: "bad escape", claim: "/a~2"},
		{name: "trailing tilde", claim: "/a~"},
		{name: "space", claim: "email verified"},
		{name: "quote", claim: `a"b`},
		{name: "control", claim: "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseClaim(tt.claim)
			if tt.want == nil {
				if !errors.Is(err, ErrClaimSyntax) {
					t.Fatalf("ParseClaim(%q) = %q, %v; want ErrClaimSyntax", tt.claim, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseClaim(%q) = %q, %v; want %q", tt.claim, got, err, tt.want)
			}
		})
	}
}

func TestNewConditionRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		groups []string
		claim  string
		values []string
	}{
		{name: "nothing"},
		{name: "both", groups: []string{"a"}, claim: "c", values: []string{"v"}},
		{name: "empty group", groups: []string{""}},
		{name: "groups with values", groups: []string{"a"}, values: []string{"v"}},
		{name: "claim without values", claim: "email_verified"},
		{name: "bad claim", claim: "a.b", values: []string{"v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if c, err := NewCondition(tt.groups, tt.claim, tt.values); err == nil {
				t.Fatalf("NewCondition accepted %+v", c)
			}
		})
	}
}

func TestConditionMatches(t *testing.T) {
	t.Parallel()
	a := Attributes{
		Groups: []string{"staff", "admins"},
		Claims: map[string]any{
			"email_verified": true,
			"level":          float64(3),
			"realm_access":   map[string]any{"roles": []any{"ops", "viewer"}},
			"a/b":            "slash",
			"list":           []any{"x", map[string]any{"k": "deep"}},
			"nothing":        nil,
		},
	}
	cond := func(groups []string, claim string, values ...string) Condition {
		t.Helper()
		c, err := NewCondition(groups, claim, values)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		c    Condition
		a    Attributes
		want bool
	}{
		{name: "group member", c: cond([]string{"admins"}, ""), a: a, want: true},
		{name: "one of the groups", c: cond([]string{"root", "staff"}, ""), a: a, want: true},
		{name: "not a member", c: cond([]string{"root"}, ""), a: a},
		{name: "group names are case-sensitive", c: cond([]string{"Admins"}, ""), a: a},
		{name: "no groups", c: cond([]string{"admins"}, ""), a: Attributes{}},
		{name: "bool claim", c: cond(nil, "email_verified", "true"), a: a, want: true},
		{name: "bool claim other value", c: cond(nil, "email_verified", "false"), a: a},
		{name: "number claim", c: cond(nil, "level", "3"), a: a, want: true},
		{name: "nested array", c: cond(nil, "/realm_access/roles", "ops"), a: a, want: true},
		{name: "nested array lacks", c: cond(nil, "/realm_access/roles", "admin"), a: a},
		{name: "escaped slash", c: cond(nil, "/a~1b", "slash"), a: a, want: true},
		{name: "array index", c: cond(nil, "/list/1/k", "deep"), a: a, want: true},
		{name: "index out of range", c: cond(nil, "/list/7", "x"), a: a},
		{name: "path through a scalar", c: cond(nil, "/level/x", "3"), a: a},
		{name: "missing claim", c: cond(nil, "role", "x"), a: a},
		{name: "null claim", c: cond(nil, "nothing", "null"), a: a},
		{name: "no claims", c: cond(nil, "email_verified", "true"), a: Attributes{}},
		{name: "zero condition selects nobody", c: Condition{}, a: a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.Matches(tt.a); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApplicable(t *testing.T) {
	t.Parallel()
	admins, err := NewCondition([]string{"admins"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := []Requirement{{Scopes: []string{"a"}}, {Scopes: []string{"b"}}}
	if got := Applicable(plain, Attributes{}); &got[0] != &plain[0] {
		t.Fatal("Applicable copied requirements without conditions")
	}
	reqs := []Requirement{{Scopes: []string{"orders:read"}}, {Scopes: []string{"orders:admin"}, When: &admins}}
	if got := Applicable(reqs, Attributes{Groups: []string{"staff"}}); len(got) != 1 || got[0].Scopes[0] != "orders:read" {
		t.Fatalf("for staff: %+v", got)
	}
	if got := Applicable(reqs, Attributes{Groups: []string{"admins"}}); len(got) != 2 {
		t.Fatalf("for admins: %+v", got)
	}
	if got := Applicable(reqs, Attributes{}); len(got) != 1 {
		t.Fatalf("without a principal: %+v", got)
	}
	d := AuthorizeEach(Applicable(reqs, Attributes{Groups: []string{"admins"}}), nil, []string{"orders:read"}, []Request{{Method: "GET"}})
	if d.Allow || !reflect.DeepEqual(d.Missing, []string{"orders:admin"}) {
		t.Fatalf("admin without orders:admin: %+v", d)
	}
}
