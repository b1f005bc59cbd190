package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("auth with %s failed: %w", "pa55word", context.DeadlineExceeded)
	tests := []struct {
		name    string
		err     error
		secrets []string
		want    string
	}{
		{"nil", nil, []string{"x"}, ""},
		{"no secret inside", errors.New("connection refused"), []string{"pa55word"}, "connection refused"},
		{"secret inside", base, []string{"pa55word"}, "auth with [redacted] failed: context deadline exceeded"},
		{"empty secret ignored", base, []string{""}, base.Error()},
		{"several secrets", errors.New("a=one b=two"), []string{"one", "two"}, "a=[redacted] b=[redacted]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := redact(tc.err, tc.secrets)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("redact(nil) = %v", got)
				}
				return
			}
			if got.Error() != tc.want {
				t.Errorf("redact = %q, want %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Error("redacted error does not unwrap to the original")
			}
		})
	}
	if !errors.Is(redact(base, []string{"pa55word"}), context.DeadlineExceeded) {
		t.Error("errors.Is through a redacted error lost the wrapped cause")
	}
}
