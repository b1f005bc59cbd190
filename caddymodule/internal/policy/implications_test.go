package policy

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestImplicationsExpand(t *testing.T) {
	t.Parallel()
	imp, err := NewImplications(map[string][]string{
		"admin":        {"orders:write", "users:write"},
		"orders:write": {"orders:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		granted []string
		want    []string
	}{
		{name: "transitive", granted: []string{"admin"}, want: []string{"admin", "orders:read", "orders:write", "users:write"}},
		{name: "one level", granted: []string{"orders:write"}, want: []string{"orders:read", "orders:write"}},
		{name: "undeclared scope stays itself", granted: []string{"other"}, want: []string{"other"}},
		{name: "nothing", granted: nil, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := keys(imp.Expand(tt.granted))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Expand(%v) = %v, want %v", tt.granted, got, tt.want)
			}
		})
	}
}

func TestImplicationsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		declared map[string][]string
		want     string
	}{
		{name: "self cycle", declared: map[string][]string{"a": {"a"}}, want: "cycle: a -> a"},
		{name: "long cycle", declared: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}, want: "cycle: a -> b -> c -> a"},
		{name: "blank scope", declared: map[string][]string{"a": {""}}, want: "empty scope"},
		{name: "quote in scope", declared: map[string][]string{`a"b`: {"c"}}, want: "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewImplications(tt.declared)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
