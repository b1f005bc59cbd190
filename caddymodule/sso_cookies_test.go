package caddymodule

import (
	"net/http/httptest"
	"slices"
	"testing"
)

func TestStripOurCookies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []string
		want []string // nil: no Cookie header left
	}{
		{"none of ours", []string{"a=b; c=d"}, []string{"a=b; c=d"}},
		{"only the session", []string{"pc=ticket"}, nil},
		{"session among others", []string{"a=b; pc=ticket; c=\"quoted; not\""}, []string{"a=b; c=\"quoted; not\""}},
		{"flow cookies", []string{"pc-flow-abc=1; x=y; pc-flow-def=2"}, []string{"x=y"}},
		{"several headers", []string{"a=b", "pc=t", "c=d"}, []string{"a=b; c=d"}},
		{"lookalikes kept", []string{"pcx=1; xpc=2; pc-flowx=3; PC=4"}, []string{"pcx=1; xpc=2; pc-flowx=3; PC=4"}},
		{"spaces and empty parts", []string{" pc = t ;; a=b ; "}, []string{"a=b"}},
		{"values untouched", []string{"pc=t; a=b=c; e=%20x"}, []string{"a=b=c; e=%20x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header["Cookie"] = slices.Clone(tt.in)
			stripOurCookies(r, "pc")
			got := r.Header["Cookie"]
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Cookie = %q, want none", got)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Cookie = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkStripOurCookiesAbsent(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header["Cookie"] = []string{"_ga=GA1.2.3; theme=dark; lang=en"}
	b.ReportAllocs()
	for b.Loop() {
		stripOurCookies(r, "portcullis")
	}
}
