package store_test

import (
	"testing"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix, kind, id, want string
	}{
		{"session", "pcl", "s", "abc", "pcl:{s:abc}"},
		{"no prefix", "", "s", "abc", "{s:abc}"},
		{"prefix with colons", "pcl:prod", "rl", "203.0.113.7", "pcl:prod:{rl:203.0.113.7}"},
		{"empty id", "pcl", "s", "", "pcl:{s:}"},
		{"binary id", "pcl", "k", "a\x00b", "pcl:{k:a\x00b}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := store.Key(tc.prefix, tc.kind, tc.id); got != tc.want {
				t.Errorf("Key(%q, %q, %q) = %q, want %q", tc.prefix, tc.kind, tc.id, got, tc.want)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, prefix string
		wantErr      bool
	}{
		{"empty", "", false},
		{"plain", "pcl", false},
		{"with colon", "pcl:prod", false},
		{"open brace", "pcl{", true},
		{"close brace", "p}cl", true},
		{"space", "pcl prod", true},
		{"newline", "pcl\n", true},
		{"DEL", "pcl\x7f", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := store.ValidatePrefix(tc.prefix)
			if (err != nil) != tc.wantErr {
				t.Errorf("ValidatePrefix(%q) = %v, wantErr %v", tc.prefix, err, tc.wantErr)
			}
		})
	}
}
